"""Old import path of ``micrograd.app.training`` (training runs), kept so that existing imports still work."""

from micrograd.app.training import (
    DATASETS,
    ENGINES,
    LOSSES,
    OPTIMIZERS,
    SCHEDULES,
    Run,
    StopRequests,
    TrainConfig,
    TrainingDiverged,
    accuracy,
    load_dataset,
    resolve_engine,
    resume_run,
    start_run,
)

__all__ = [
    "DATASETS", "ENGINES", "LOSSES", "OPTIMIZERS", "SCHEDULES", "Run", "StopRequests", "TrainConfig",
    "TrainingDiverged", "accuracy", "load_dataset", "resolve_engine", "resume_run", "start_run"
]
