"""Downstream tasks on Struct-VRNN outputs (paper Sections 5.2, 5.5, S2.2, S2.3).

Every function of this package takes numpy arrays that a trained model
produced, never a model, so that the analyses can run on stored rollouts and
be tested on synthetic data. One module per task:

* `tracking`: object tracking by coordinate regression (Figure 4),
  `coordinate_regression`, and through the same regressor the baseline
  without dynamics, `last_observed_baseline`, and the detector alone,
  `detection_fit`; best-of-N selection (`select_best_samples`) and
  `trajectory_errors`.
* `regression`: that regressor and its fit, `fit_coordinate_regressor`.
* `reward`: reward prediction from the dynamics RNN's hidden states
  (Figure 9), `reward_prediction`.
* `action`: action recognition from observed keypoint sequences (Figure 8),
  `action_recognition`; `video_structure.data.human36m` loads user-supplied
  Human3.6M data for it.
* `diversity`: how far apart the N samples of a sequence are (Figure S3 as
  a number), `sample_diversity`.
* `fitting`: the Keras training that the reward and action models share.
* `checks`: the argument checks that all of them share.

Array layouts (see video_structure.keypoint_ops for the coordinate convention):
  keypoints: float32 [num_seqs, num_samples, time, K, 3] (x, y, mu) decoded by
    the model; the first `num_observed_steps` steps are observed, the rest
    predicted. Detected keypoints (the detector on every frame) have no sample
    axis: [num_seqs, time, K, 3].
  positions: float32 [num_seqs, time, N, 2] ground-truth object coordinates;
    NaN marks a missing object at that step.
  hidden_states: float32 [num_seqs, time, H]; rewards: float32 [num_seqs, time];
  domains: int32 [num_seqs]; action labels: int32 [num_seqs].

This __init__ imports nothing, so that importing one task does not load the
Keras models of the others, and `tracking`, `regression` and `checks` (which
`video_structure.data.human36m` uses) stay free of TensorFlow.
"""
