"""Start-up stays lean: `import sim.cli` and `sim --help` (which imports every verb's
module) import none of the heavy libraries; each is imported where it is used (pandas
for DataFrames and sweep stores, matplotlib for plots, dask for a sweep's scheduler,
amaranth for `sim rtl`, hwcomponents for cost models, simpy for exact PIM runs)."""

import subprocess
import sys

from conftest import REPO

HEAVY = ("matplotlib", "pandas", "pyarrow", "dask", "distributed", "amaranth", "hwcomponents",
         "simpy")
# Not heavy, but not needed to start: the CLI and its help load none of them, so
# `sim --help` costs the interpreter, click, rich and yaml (sim/__init__ is lazy).
SIMULATION = ("numpy", "pydantic", "arch", "mapper", "workloads", "sim.simulate")


def imported_modules(statement: str) -> set[str]:
    """Every module a fresh `python -X importtime` running `statement` imports: its
    importtime lines, and sys.modules at the end (importlib.import_module, which loads
    the verbs' modules, is not timed by -X importtime)."""
    code = (f"import sys\ntry:\n    {statement}\n"
            f"finally:\n    print('MODULES', *sys.modules, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            # "import time: <self us> | <cumulative us> | <indent><module>"
            modules.add(line.rsplit("|", 1)[1].strip())
        elif line.startswith("MODULES "):
            modules.update(line.split()[1:])
    return modules


def heavy(modules: set[str]) -> list[str]:
    # hwcomponents' plug-ins are top-level packages of their own (hwcomponents_cacti, ...)
    return sorted({m.split(".")[0] for m in modules if m.startswith(HEAVY)})


def simulation(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m in SIMULATION or m.split(".")[0] in SIMULATION)


def test_import_sim_cli_is_lean():
    modules = imported_modules("import sim.cli")
    assert {"sim.cli", "yamlspec"} <= modules  # the output was parsed
    assert not heavy(modules), f"import sim.cli imports {', '.join(heavy(modules))}"
    assert not simulation(modules), f"import sim.cli imports {simulation(modules)[:5]}"


def test_sim_help_is_lean():
    modules = imported_modules("from sim.cli import main; main(['--help'], prog_name='sim')")
    # the help lists every verb, so every verb's module was imported
    assert {"sim.commands.run", "sim.commands.plot", "sim.commands.sweep", "rtl.command",
            "experiments.command"} <= modules
    assert not heavy(modules), f"sim --help imports {', '.join(heavy(modules))}"
    assert not simulation(modules), f"sim --help imports {simulation(modules)[:5]}"


def test_lazy_sim_still_simulates():
    """`import sim` loads nothing heavy, yet sim.simulate finds every core engine."""
    modules = imported_modules(
        "import sim\n    assert 'numpy' not in sys.modules\n    import arch, workloads\n"
        f"    r = sim.simulate(workloads.load('{REPO}/workloads/gpt2.yaml'), arch.load('bitmod'))\n"
        "    assert r.cycles > 0 and sim.UNIT_ENGINES.get('bitserial_array').own_schedule")
    assert "sim.bitserial_engine" in modules


def test_sim_run_needs_no_dataframes():
    """`sim run` prints its per-Einsum table without pandas (1.4 s of imports on a busy
    machine, for a table of a few rows), without numpy.ma (10 ms: np.unique of a plain
    array imports it) and, writing to a pipe, without rich's spinner (rich.live: a
    thread and 5 ms of imports for a display nobody sees)."""
    modules = imported_modules(f"from sim.cli import main\n    main(['run', "
                               f"'{REPO}/workloads/gpt2.yaml'], prog_name='sim')")
    assert "sim.commands.run" in modules and "sim.simulate" in modules
    assert not {"pandas", "matplotlib", "dask"} & {m.split(".")[0] for m in modules}
    assert not {"numpy.ma", "rich.live", "rich.status"} & modules
