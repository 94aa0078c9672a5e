"""A job whose step process is killed with SIGKILL (as the out-of-memory killer does), run by
Dagster's multiprocess executor so that the step really has its own process."""

import os
import signal

import dagster as dg


@dg.op
def doomed_step() -> None:
    """Kill this step's own process."""
    os.kill(os.getpid(), signal.SIGKILL)


@dg.job(executor_def=dg.multiprocess_executor)
def killed_step_job() -> None:
    """One step, killed."""
    doomed_step()


def killed_step_job_factory() -> dg.JobDefinition:
    """Module-level factory for ``dg.reconstructable``."""
    return killed_step_job
