"""The benchmarks, registered in one place, each with the same tiny protocol.

A benchmark is a :class:`Benchmark`: ``run(config, out, **inputs) -> {table name: DataFrame}``
computes (or resumes) its results into the folder ``out`` through the one
:class:`~attrbench.results.ResultStore`, and ``report(out) -> Path`` rebuilds its HTML report
from the stored files only. The folder's ``config.json`` records which benchmark wrote it, so
:func:`report` (``attrbench report DIR``) rebuilds any benchmark's report.

======================  ==============================  ======================================
name                    config                          inputs besides the config
======================  ==============================  ======================================
``fpa``                 ``FPAReproductionConfig``       none (trains or loads shipped models)
``roar``                ``RoarConfig`` (ROAR and KAR)   ``model=`` (optional builder / module),
                                                        ``maps=`` (optional precomputed maps)
``iteroar``             ``IteRoarConfig``               ``model=`` (optional)
``robustness``          ``RobustnessConfig``            ``models=``, ``dataset=``, ``space=``
``bam``                 ``BamRunConfig``                ``data=`` (built BAM folder),
                                                        ``train_options=``, ``model=``
======================  ==============================  ======================================

``device`` / ``progress`` are passed on where a runner takes them. The configs are frozen
dataclasses validated on construction; the CLI loads any of them from a TOML table
(:func:`attrbench.cli.options.build_config`).

Everything heavy is imported when a benchmark runs, so importing this module (and the CLI's
``--help``) stays cheap.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attrbench.errors import AttrbenchError
from attrbench.registry import Registry

Tables = dict[str, Any]  # {table name: pandas.DataFrame}


@dataclass(frozen=True)
class Benchmark:
    """One benchmark's entry points.

    Attributes:
        name: registry name, recorded in the results folder's ``config.json``.
        description: one line for listings.
        run: ``(config, out, **inputs) -> {table name: DataFrame}``.
        report: ``(out) -> Path`` of the ``report.html`` rebuilt from the stored files.
        recognises: ``(stored config.json record) -> bool``, for folders written before the
            benchmark's name was recorded.
    """

    name: str
    description: str
    run: Callable[..., Tables]
    report: Callable[[Path], Path]
    recognises: Callable[[Mapping[str, Any], Path], bool]


BENCHMARKS: Registry[Benchmark] = Registry("benchmark")


def list_benchmarks() -> list[str]:
    """Names of the registered benchmarks."""
    return BENCHMARKS.names()


def get_benchmark(name: str) -> Benchmark:
    """The benchmark called ``name`` (AttrbenchError with the valid names if unknown)."""
    return BENCHMARKS.get(name)


def run(name: str, config: Any, out: str | Path, **inputs: Any) -> Tables:
    """Run benchmark ``name`` with ``config`` into the results folder ``out`` (resumable)."""
    return get_benchmark(name).run(config, Path(out), **inputs)


def benchmark_of(out: str | Path) -> str:
    """The name of the benchmark that wrote the results folder ``out``.

    Read from ``config.json``; a folder written before the name was recorded is recognised by
    its contents.

    Raises:
        AttrbenchError: ``out`` is not a results folder of any benchmark.
    """
    from attrbench.results.store import recorded_benchmark

    out = Path(out)
    if not out.is_dir():
        raise AttrbenchError(f"{out} is not a folder; pass a results folder written by "
                             "evaluate, reproduce, demo, roar, iteroar, robustness or bam run.")
    name = recorded_benchmark(out)
    if name is not None:
        return get_benchmark(name).name
    record: dict[str, Any] = {}
    if (out / "config.json").is_file():
        try:
            record = json.loads((out / "config.json").read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            record = {}
    for candidate in list_benchmarks():
        if get_benchmark(candidate).recognises(record if isinstance(record, dict) else {}, out):
            return candidate
    raise AttrbenchError(
        f"{out} holds no results attrbench recognises (no config.json naming a benchmark, no "
        "shards/ or tables/); pass the --out folder of evaluate, reproduce, demo, roar, iteroar, "
        "robustness or bam run.")


def report(out: str | Path, **options: Any) -> Path:
    """Rebuild the report of the results folder ``out``, whichever benchmark wrote it.

    Args:
        out: the results folder.
        **options: passed to the benchmark's report (FPA: ``ci=``; robustness:
            ``min_images=``).

    Returns:
        The path of ``report.html``.
    """
    return get_benchmark(benchmark_of(out)).report(Path(out), **options)


def _config(record: Mapping[str, Any]) -> Mapping[str, Any]:
    config = record.get("config")
    return config if isinstance(config, Mapping) else {}


# --- FPA -------------------------------------------------------------------------------------

def _run_fpa(config: Any, out: Path, **inputs: Any) -> Tables:
    from attrbench.fpa.reproduction import reproduce_fpa
    from attrbench.results import read_curves

    reproduce_fpa(config, out, **inputs)
    return {"curves": read_curves(out)}


def _report_fpa(out: Path, **options: Any) -> Path:
    from attrbench.fpa.report import write_fpa_report

    return write_fpa_report(out, **options)


def _is_fpa(record: Mapping[str, Any], out: Path) -> bool:
    return "robustness" not in _config(record) and (out / "shards").is_dir()


# --- ROAR / KAR and IteROAR -----------------------------------------------------------------

def _run_roar(config: Any, out: Path, **inputs: Any) -> Tables:
    from attrbench.roar import run_roar

    return {"accuracy": run_roar(config, out, **inputs)}


def _run_iteroar(config: Any, out: Path, **inputs: Any) -> Tables:
    from attrbench.roar import run_iteroar

    return dict(run_iteroar(config, out, **inputs))


def _report_roar(out: Path, **options: Any) -> Path:
    from attrbench.roar.report import write_roar_report

    return write_roar_report(out, **options)


def _kind(name: str) -> Callable[[Mapping[str, Any], Path], bool]:
    return lambda record, out: _config(record).get("kind") == name


# --- robustness -----------------------------------------------------------------------------

def _run_robustness(config: Any, out: Path, *, models: Any, dataset: Any, space: Any,
                    **inputs: Any) -> Tables:
    from attrbench.robustness.pipeline import run_robustness

    return {"rows": run_robustness(models, dataset, config, space, out=out, **inputs)}


def _report_robustness(out: Path, **options: Any) -> Path:
    from attrbench.robustness.report import write_robustness_report

    return write_robustness_report(out, **options)


# --- BAM ------------------------------------------------------------------------------------

def _run_bam(config: Any, out: Path, *, data: str | Path, **inputs: Any) -> Tables:
    from attrbench.bam.pipeline import OUTPUTS, run_bam
    from attrbench.results import read_table

    run_bam(data, out, run_config=config, **inputs)
    return {name: read_table(out, name) for name in OUTPUTS}


def _report_bam(out: Path, **options: Any) -> Path:
    from attrbench.bam.report import write_bam_report

    return write_bam_report(out, **options)


def _is_bam(record: Mapping[str, Any], out: Path) -> bool:
    data = _config(record).get("data")
    return (isinstance(data, Mapping) and "manifest_sha256" in data) or (
        (out / "run.json").is_file() and (out / "metrics.csv").is_file())


for _entry in (
    Benchmark("fpa", "Perturbation fidelity (MIF/LIF curves, A), Brocki & Chung",
              _run_fpa, _report_fpa, _is_fpa),
    Benchmark("roar", "ROAR / KAR: remove or keep the top t %, retrain (Hooker et al.)",
              _run_roar, _report_roar, _kind("RoarConfig")),
    Benchmark("iteroar", "IteROAR: iterative remove-and-retrain, mask overlap (Palacio et al.)",
              _run_iteroar, _report_roar, _kind("IteRoarConfig")),
    Benchmark("robustness", "Robustness of attributions to label-keeping attacks (Kamath et al.)",
              _run_robustness, _report_robustness,
              lambda record, out: "robustness" in _config(record)),
    Benchmark("bam", "BAM: known relative feature importance (Yang & Kim)",
              _run_bam, _report_bam, _is_bam),
):
    BENCHMARKS.register(_entry.name, _entry)

__all__ = ["BENCHMARKS", "Benchmark", "benchmark_of", "get_benchmark", "list_benchmarks",
           "report", "run"]
