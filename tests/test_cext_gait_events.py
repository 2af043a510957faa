"""The gait detector's events on constructed gait (each test a situation a person on the
treadmill produces, with the time the event must be given), and the pipeline's force plate
maths and bad input."""
import numpy as np
import pytest

from cext._detector import GaitDetector
from cext._forceplate import ForcePlate
from cext.pipeline import LoadcellPipeline

LEFT, RIGHT = 0, 1


def test_force_plate_maths():
    pipe = LoadcellPipeline(body_weight_n=800.0)
    plate = ForcePlate((0, 0, 0, 0, 0), (1, 1, 1, 1, 1),
                             ((0.75, 0.3), (0.75, -0.3), (-0.75, 0.3), (-0.75, -0.3)), 800.0)
    out = np.empty((2, 4))
    plate.plate_frames(np.array([[200.0, 100, 100, 300, 300], [0, 5, 5, 0, 0]]), out)
    np.testing.assert_allclose(out[0], [800.0, (150 - 450) / 800, 0.0, 0.25])
    assert out[1, 0] == 10.0 and np.isnan(out[1, 1])  # too little load for a COP
    cal = ForcePlate((10, 0, 0, 0, 0), (0.5, 2, 1, 1, 1), ((0, 0),) * 4)
    forces = np.empty((1, 5))
    cal.calibrate_frames(np.array([[30.0, 4, 1, 1, 1]]), forces)
    np.testing.assert_allclose(forces[0], [10.0, 8, 1, 1, 1])
    assert pipe.delay_s > 0


def test_bad_input_is_flagged_or_refused():
    pipe = LoadcellPipeline(body_weight_n=800.0, initial_n=np.full(5, 200.0))
    t = np.arange(10) / 1000
    raw = np.full((10, 5), 200.0)
    raw[3, 2] = np.nan
    raw[4, 0] = np.inf
    out, _ = pipe.process(t, raw)
    assert pipe.bad_samples == 2 and out[3, 9] == 4 and out[4, 9] == 1
    assert np.all(np.isfinite(out[:, :6]))  # held, not propagated
    with pytest.raises(ValueError, match="increase"):
        pipe.process(np.array([0.02, 0.02]), np.zeros((2, 5)))
    with pytest.raises(ValueError, match="previous call"):
        pipe.process(np.array([0.005]), np.zeros((1, 5)))
    with pytest.raises(ValueError, match=r"\(n, 5\)"):
        pipe.process(np.array([0.1]), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="timestamps for"):
        pipe.process(np.array([0.1, 0.2]), np.zeros((1, 5)))
    with pytest.raises(TypeError):
        pipe.process(np.array(["a"]), np.zeros((1, 5)))
    with pytest.raises(ValueError, match="not finite"):
        pipe.process(np.array([np.nan]), np.zeros((1, 5)))
    out, events = pipe.process(np.zeros(0), np.zeros((0, 5)))
    assert out.shape == (0, 10) and events == []
    pipe.process(np.array([0.5, 0.501]), np.full((2, 5), 200.0))
    assert pipe.gaps == 1
    with pytest.raises(ValueError, match="body weight"):
        LoadcellPipeline(body_weight_n=float("nan"))


def test_toe_off_recovered_when_single_support_is_found_late():
    """Walking already under way when the detector starts: weight moves from the right foot
    (y = -0.09) to the left (y = +0.09); the right foot's toe off is timed where its own
    force fell through 20 N, although single support is recognised only later."""
    t = np.arange(1000) / 1000.0
    right_n = 700.0 * np.clip((0.55 - t) / 0.15, 0.0, 1.0)
    cy = (0.09 * (700.0 - right_n) - 0.09 * right_n) / 700.0
    det = GaitDetector(body_weight_n=700.0)
    events = det.process(t, np.full(t.size, 700.0), np.zeros(t.size), cy)
    assert len(events) == 1
    t_s, kind, side, detected_at = events[0]
    assert (kind, side) == (1, RIGHT)
    assert t_s == pytest.approx(0.55 - 20.0 * 0.15 / 700.0, abs=1e-3)
    assert t_s < detected_at < 0.7


def test_heel_strike_not_timed_at_a_stance_wobble():
    """The stance foot's COP jumps 3 cm forward at 0.6 s (the fit's line no longer holds: a
    departure of ~60 N that never grows and pulls nowhere sideways); the left foot lands at
    0.9 s. The heel strike is timed at the landing, not at the wobble 300 ms before it."""
    t = np.arange(1200) / 1000.0
    landing = np.clip((t - 0.9) / 0.05, 0.0, 1.0) * 350.0
    right = np.clip((t - 0.05) / 0.2, 0.0, 1.0) * 700.0 - landing
    left = 700.0 - right
    x_right = 0.3 - t + 0.03 * np.clip((t - 0.6) / 0.04, 0.0, 1.0)
    x_left = np.where(t < 0.5, 0.0, 0.3 - (t - 0.9))
    fz = left + right
    cx, cy = (left * x_left + right * x_right) / fz, 0.09 * (left - right) / fz
    strikes = [e for e in GaitDetector(body_weight_n=700.0).process(t, fz, cx, cy) if e[1] == 0]
    assert len(strikes) == 1
    t_s, _, side, detected_at = strikes[0]
    assert side == LEFT
    assert t_s == pytest.approx(0.9 + 0.05 * 20.0 / 350.0, abs=2e-3)
    assert detected_at < 0.92


STEP_S, DS_S, WEIGHT_N = 0.55, 0.1, 700.0


def walking(steps: int, tail, last_x_m: float = 0.3):
    """Treadmill walking on a point-footed model: foot k (left first) lands at k x STEP_S
    0.3 m ahead of the deck centre, is carried back at 1 m/s, 0.09 m to its side; weight moves
    onto the landing foot over DS_S. `tail(t, a)` gives the forces (landing foot, other foot)
    for t after the last landing at a, which lands `last_x_m` ahead of the centre.
    Returns t, Fz, COP x, COP y."""
    t = np.arange(int((steps * STEP_S + 1.6) * 1000)) / 1000.0
    force, x = np.zeros((2, t.size)), np.zeros((2, t.size))
    force[1] = WEIGHT_N * (t < DS_S)  # standing on the right before the first step
    for k in range(steps):
        a, side = k * STEP_S, k % 2
        on = t >= a
        up = np.clip((t - a) / DS_S, 0.0, 1.0) * WEIGHT_N
        force[side, on] = up[on]
        force[1 - side, on & (t < a + DS_S)] = WEIGHT_N - up[on & (t < a + DS_S)]
        force[1 - side, t >= a + DS_S] = 0.0
        x[side, on] = 0.3 - (t[on] - a)
    a = steps * STEP_S
    new, old = tail(t, a)
    after = t >= a
    s = steps % 2
    force[s, after], force[1 - s, after] = new[after], old[after]
    x[s, after] = last_x_m - (t[after] - a)
    fz = force.sum(axis=0)
    return t, fz, (force * x).sum(axis=0) / fz, 0.09 * (force[0] - force[1]) / fz


def test_short_step_timed_where_its_own_force_crossed():
    """After seven steps the left foot lands 0.15 m short of where the others did (its COP
    along the belt a quarter nearer the stance foot than the learned landing offset says)
    and loads slowly, 350 N in 0.2 s. Its heel strike is where its own force crossed 20 N
    (the COP's sideways departure says so; along the belt it would read ~25 % low, ~4 ms late)."""
    def slow_landing(t, a):
        new = np.interp(t, [a, a + 0.2], [0.0, 350.0])
        return new, WEIGHT_N - new
    t, fz, cx, cy = walking(8, slow_landing, last_x_m=0.15)
    events = GaitDetector(body_weight_n=WEIGHT_N).process(t, fz, cx, cy)
    a = 8 * STEP_S
    strikes = [e for e in events if e[0] > a - 0.05 and e[1] == 0]
    assert [side for _, _, side, _ in strikes] == [LEFT]
    assert strikes[0][0] == pytest.approx(a + 0.2 * 20.0 / 350.0, abs=5e-4)


def test_leading_foot_lifting_again_is_its_toe_off():
    """A pivot in a turn: the left foot lands, takes half the weight and lifts again 0.6 s
    later while the right foot stays. That is the left foot's toe off, known at once (not
    only when the detector gives up on the double support and recovers it)."""
    def pivot(t, a):
        new = np.interp(t, [a, a + 0.05, a + 0.6, a + 0.7], [0.0, 350.0, 350.0, 0.0])
        return new, WEIGHT_N - new
    t, fz, cx, cy = walking(8, pivot)
    events = GaitDetector(body_weight_n=WEIGHT_N).process(t, fz, cx, cy)
    a = 8 * STEP_S
    late = [e for e in events if e[0] > a - 0.05]
    assert [(kind, side) for _, kind, side, _ in late] == [(0, LEFT), (1, LEFT)]
    assert late[0][0] == pytest.approx(a + 0.05 * 20.0 / 350.0, abs=2e-3)
    assert late[1][0] == pytest.approx(a + 0.6 + 0.1 * 330.0 / 350.0, abs=2e-3)
    assert late[1][3] - late[1][0] < 0.01


def test_no_toe_off_while_the_trailing_foot_still_stands():
    """After the left foot lands, the right foot unloads slowly for 0.6 s (longer than a
    step) and then rests with 100 N, the COP still, 2.6 cm short of the left foot's usual
    place, for 0.4 s before it lifts. A still COP that late in double support is no narrower
    step: the toe off is where the right foot really leaves."""
    def linger(t, a):
        old = np.interp(t, [a, a + 0.05, a + 0.6, a + 1.0, a + 1.05],
                        [WEIGHT_N, 350.0, 100.0, 100.0, 0.0])
        return WEIGHT_N - old, old
    t, fz, cx, cy = walking(8, linger)
    events = GaitDetector(body_weight_n=WEIGHT_N).process(t, fz, cx, cy)
    a = 8 * STEP_S
    late = [e for e in events if e[0] > a - 0.05]
    assert [(kind, side) for _, kind, side, _ in late][:2] == [(0, LEFT), (1, RIGHT)]
    assert late[1][0] == pytest.approx(a + 1.0 + 0.05 * 80.0 / 100.0, abs=2e-3)
