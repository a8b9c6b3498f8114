"""Every class and function that ends up inside the pickled, served Pipeline: the table
cleaner, column groups, frame helpers, calibration, the boosting wrappers and the calibrated SVC.
It imports nothing of autotab outside itself, so a pickle's modules are only these."""
