import pytest

from video_structure import schedules


@pytest.mark.parametrize(
    "step,expected", [(0, 0.0), (12_500, 1.5e-3), (25_000, 3e-3), (90_000, 3e-3)]
)
def test_kl_scale_anneals_linearly_from_zero(step, expected):
    assert float(schedules.kl_scale(step, 3e-3, 25_000)) == pytest.approx(expected)


def test_kl_scale_without_annealing_is_constant():
    assert float(schedules.kl_scale(0, 0.01, 0)) == pytest.approx(0.01)


@pytest.mark.parametrize(
    "final,step,expected",
    [
        (1.0, 0, 0.0),
        (1.0, 25_000, 0.25),
        (1.0, 100_000, 1.0),
        (0.5, 50_000, 0.25),
        (0.5, 200_000, 0.5),
    ],
)
def test_sampling_probability_ramps_over_training(final, step, expected):
    assert float(schedules.sampling_probability(step, final, 100_000)) == pytest.approx(expected)


@pytest.mark.parametrize(
    "step,expected",
    [(0, 1e-3), (29_999, 1e-3), (30_000, 5e-4), (60_000, 2.5e-4), (99_999, 1.25e-4)],
)
def test_learning_rate_halves_every_30k_steps(step, expected):
    schedule = schedules.learning_rate(1e-3, 30_000, 0.5)
    assert float(schedule(step)) == pytest.approx(expected)


@pytest.mark.parametrize("step", [0, 125, 250, 500, 2000])
def test_keypoint_sigma_decays_geometrically_to_sigma(step):
    # Oracle: sigma * factor^(1 - min(step / decay_steps, 1)).
    expected = 1.5 * 3.0 ** (1.0 - min(step / 500, 1.0))
    assert float(schedules.keypoint_sigma(step, 1.5, 3.0, 500)) == pytest.approx(expected)


@pytest.mark.parametrize("factor,decay_steps", [(1.0, 500), (3.0, 0)])
def test_keypoint_sigma_without_a_schedule_is_sigma(factor, decay_steps):
    assert float(schedules.keypoint_sigma(0, 1.5, factor, decay_steps)) == pytest.approx(1.5)
