"""Where workers run: in this process, in N worker processes, or on a Dask cluster. Each
runs :func:`course.grade.worker.grade_submission` on tasks (of one unit or several:
``templates`` maps each task's unit to its packed template) and yields (task, result); a
worker that fails becomes a *crashed* result (never points), and nothing stops the batch.
"""
from __future__ import annotations

from course.grade.records import failed_result
from course.grade.worker import grade_submission
from course.lifetime import die_with_parent


class SerialExecutor:
    name = "serial"

    def run(self, tasks, templates: dict):
        from course.grade.sandbox import warm
        try:
            for task in tasks:
                yield task, grade_submission(task, templates[task.unit])
        finally:  # kernels started ahead are this batch's: none outlives it in this process
            warm.close_all()

    def close(self):
        pass


_TEMPLATES: dict = {}


def _worker_init(templates: dict):
    # A worker dies with its coordinator (kill -9 included), and its kernels with it.
    die_with_parent()
    # The templates travel once per worker, not with every task: a task stays small.
    _TEMPLATES.update(templates)
    # Worker processes end without atexit: stop the kernels started ahead on the way out.
    from multiprocessing.util import Finalize
    from course.grade.sandbox import warm
    Finalize(None, warm.close_all, exitpriority=10)


def _grade_in_worker(task):
    return grade_submission(task, _TEMPLATES[task.unit])


class PoolExecutor:
    """N worker processes on this machine (``concurrent.futures``)."""

    def __init__(self, workers: int):
        self.workers = workers
        self.name = f"{workers} worker process(es)"

    def run(self, tasks, templates: dict):
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        ctx = multiprocessing.get_context("spawn")
        attempts = {t.key: 0 for t in tasks}
        todo = list(tasks)
        while todo:
            pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_worker_init,
                                       initargs=(templates,))
            futures = {pool.submit(_grade_in_worker, t): t for t in todo}
            todo = []
            try:
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        task = futures[fut]
                        try:
                            yield task, fut.result()
                        except BrokenProcessPool:
                            attempts[task.key] += 1
                            if attempts[task.key] < 2:
                                todo.append(task)  # the pool broke: retry on a fresh one
                            else:
                                yield task, failed_result(task, "the grading worker process died")
                        except Exception as exc:  # noqa: BLE001
                            yield task, failed_result(task, f"the grading worker failed: {exc!r}")
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def close(self):
        pass


class DaskExecutor:
    """A Dask cluster: ``"local"`` starts a LocalCluster of N workers, else an address."""

    def __init__(self, address: str, workers: int = 2):
        from distributed import Client, LocalCluster
        self.cluster = None
        if address == "local":
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None, memory_limit=0)
            self.client = Client(self.cluster)
            self.name = f"Dask LocalCluster ({workers} workers)"
        else:
            self.client = Client(address)
            self.name = f"Dask cluster at {address}"

    def run(self, tasks, templates: dict):
        from distributed import as_completed
        shared = {unit: self.client.scatter(t, broadcast=True) for unit, t in templates.items()}
        futures = {self.client.submit(grade_submission, t, shared[t.unit], key=f"grade-{t.key}",
                                      pure=False): t for t in tasks}
        for fut in as_completed(list(futures)):
            task = futures[fut]
            try:
                yield task, fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker, a serialisation error
                yield task, failed_result(task, f"the Dask task failed: {exc!r}")

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_executor(workers: int = 1, dask: str | None = None):
    if dask:
        return DaskExecutor(dask, max(1, workers))
    return SerialExecutor() if workers <= 1 else PoolExecutor(workers)
