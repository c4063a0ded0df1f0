"""The paper's model comparisons (Sections 5.1-5.5, S2) from SavedModel exports.

Three steps, each usable on its own, one module each:

* `collection.collect`: runs an export (`video_structure.export`) over one
  split of a registered dataset and returns numpy arrays: decoded keypoints of
  N samples, detected keypoints, GRU states and whatever ground truth the
  dataset has.
* `tasks.run_tasks`: the downstream analyses of `video_structure.downstream`
  on the collected arrays: object tracking by coordinate regression (Figure
  4), reward prediction per domain (Figure 9) and action recognition (Figure
  8). A task whose arrays are missing is skipped with a note, not an error.
* `report.write_report`: one table (markdown and CSV) over variants and seeds,
  with the mean over seeds, and PNG figures (`figures`) laid out as Figures 4,
  5, 8 and 9.

`pipeline` chains train.py, `evaluation.run` and these steps for every
variant and seed (scripts/run_experiments.py is its command line); `runner`
holds what it decides about a run before doing it.

This __init__ imports nothing, so that the report can be written without
loading TensorFlow's export machinery.
"""
