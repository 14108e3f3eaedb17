"""Command line that the DVC stages call:  python -m atentlib {data,run,train,evaluate,notebook,...} --profile NAME"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import ProfileError, available_profiles, load_profile


def _run_dir(profile: str, experiment: str, defense: str) -> Path:
    from .runs import run_dir  # the one place that knows runs/<profile>/<experiment>/<defense>/

    return run_dir("runs", profile, experiment, defense)


def _data(profile, dataset: str):
    from . import data

    return data.load(dataset, profile.data[dataset], data.data_root(dataset, profile.data[dataset], profile.profile))


def cmd_data(args) -> None:
    from . import data

    profile = load_profile(args.profile)
    datasets = args.dataset or sorted({e.dataset for e in profile.experiments.values()})
    for ds in datasets:
        if ds not in profile.data:
            raise ProfileError(f"--dataset {ds}: not declared under data: in profile {profile.profile!r} "
                               f"(declared: {', '.join(profile.data)})")
        root = data.data_root(ds, profile.data[ds], profile.profile)
        info = data.prepare(ds, profile.data[ds], root)
        print(f"{ds}: ready in {root} ({info.get('source')}, {info.get('n_images', '?')} images)")


def cmd_train(args) -> None:
    from .train import fit, pick_device

    profile = load_profile(args.profile)
    exp = profile.experiment(args.experiment)
    exp.defense(args.defense)
    bundle = _data(profile, exp.dataset)
    fit(profile, args.experiment, args.defense, bundle, _run_dir(profile.profile, args.experiment, args.defense),
        pick_device(profile.device), progress=not args.no_progress)


def cmd_evaluate(args) -> None:
    from .experiment import evaluate_suite
    from .train import pick_device

    profile = load_profile(args.profile)
    exp = profile.experiment(args.experiment)
    exp.defense(args.defense)
    bundle = _data(profile, exp.dataset)
    res = evaluate_suite(profile, args.experiment, args.defense, args.suite, bundle, pick_device(profile.device),
                         progress=not args.no_progress)
    for which, r in res["checkpoints"].items():
        _print_result(f"{args.experiment}/{args.defense} [{which}, epoch {r['epoch']}]", r)


def cmd_run(args) -> None:
    from .experiment import run_experiment
    from .train import pick_device

    profile = load_profile(args.profile)
    exp = profile.experiment(args.experiment)
    out = run_experiment(profile, args.experiment, _data(profile, exp.dataset), pick_device(profile.device),
                         results_dir=args.results_dir, progress=not args.no_progress)
    print(f"wrote {out}")


def _print_result(label: str, r: dict) -> None:
    from .experiment import describe_result

    print(describe_result(label, r))


def cmd_attack(args) -> None:
    """Any checkpoint under a named suite of the profile (the experiment is read from the checkpoint)."""
    from .checkpoint import load_model, write_json
    from .evaluate import evaluate_model
    from .train import pick_device

    profile = load_profile(args.profile)
    device = pick_device(profile.device)
    model, spec = load_model(Path(args.checkpoint), device)
    exp = profile.experiment(spec["experiment"])
    suite = exp.suite(args.suite)
    bundle = _data(profile, exp.dataset)
    res = evaluate_model(model, bundle.test, suite, device, progress=not args.no_progress)
    res.update(checkpoint=str(args.checkpoint), epoch=spec["epoch"], suite=args.suite, data=bundle.info)
    out = Path(args.out) if args.out else Path(args.checkpoint).with_suffix(f".{args.suite}.json")
    write_json(res, out)
    _print_result(f"{args.checkpoint} (epoch {spec['epoch']}) -> {out}", res)


def cmd_notebook(args) -> None:
    import yaml

    from .notebook import execute

    profile = load_profile(args.profile)
    params = {"profile": args.profile, **profile.notebooks.get(args.name, {})}
    for key, value in args.param or []:
        params[key] = yaml.safe_load(value)
    out = execute(args.name, params, build_dir=Path(args.build_dir), progress=not args.no_progress)
    print(f"executed {args.name} -> {out}")


def cmd_zoo(args) -> None:
    from . import report, zoo
    from .checkpoint import CHECKPOINT_FILES

    profile = load_profile(args.profile)
    for experiment, exp in profile.experiments.items():
        for defense in exp.defenses:
            run = _run_dir(profile.profile, experiment, defense)
            if report.seed_base(defense) not in args.defenses or not (run / CHECKPOINT_FILES["last"]).exists():
                continue
            accs = {}
            for suite, filename in (("evaluation", "eval.json"), ("audit", "audit.json")):
                if (run / filename).exists():
                    last = report.load_eval("runs", profile.profile, experiment, defense, suite)["checkpoints"]["last"]
                    if suite == "evaluation":  # natural accuracy on the evaluation's digits (all of them)
                        accs["natural"] = {"accuracy": last["natural"], "n_examples": last["n_examples"]}
                    accs.update({k: {"accuracy": v["accuracy"], "n_examples": v["n_examples"]}
                                 for k, v in last["attacks"].items() if k not in accs})
            entry = zoo.export(run, f"{experiment}-{defense}", accuracies=accs)
            print(f"{experiment}-{defense}: {entry['file'].removeprefix('../')}, epoch {entry['epoch']}, "
                  f"sha256 {entry['sha256'][:16]}")
    print(f"listed in {zoo.write_listing()}")


def cmd_index(args) -> None:
    from .data import atomic_write_bytes
    from .study_index import build_index

    out = Path(args.out)
    lead = [(load_profile(name), Path("pipelines") / name / "dvc.yaml") for name in args.lead]
    profile = load_profile(args.profile)  # loaded last: its settings (threads) are the ones in force
    atomic_write_bytes(out, build_index(profile, Path(args.dvc_yaml), Path("notebooks"), out.parent,
                                        lead=lead).encode())
    print(f"wrote {out}")


def cmd_timings(args) -> None:
    from .data import atomic_write_bytes
    from .timings import summary

    text = summary(Path(args.runs_dir), load_profile(args.profile).profile, Path(args.build_dir))
    print(text)
    if args.out:
        atomic_write_bytes(Path(args.out), text.encode())


def _train_epilog() -> str:
    from .config import TrainConfig
    from .defenses import describe_defenses

    train = "\n".join(f"  {n} = {f.get_default(call_default_factory=True)!r}" + (f"  ({f.description})" if f.description
                                                                                 else "")
                      for n, f in TrainConfig.model_fields.items())
    return ("Defenses are chosen by name from the profile's experiments.<experiment>.defenses; each has a kind:\n"
            f"{describe_defenses()}\n\nThe experiment's train: section (defaults):\n{train}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atentlib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profile", default="quick",
                        help=f"profile name or YAML path (available: {', '.join(available_profiles())})")
    common.add_argument("--no-progress", action="store_true", help="no progress bars")
    p = sub.add_parser("data", parents=[common], help="fetch/convert the real data sets and verify checksums")
    p.add_argument("--dataset", action="append", choices=["mnist", "cifar10"])
    p.set_defaults(func=cmd_data)
    for name, func, help_ in (("train", cmd_train, "train one defense of one experiment (resumes)"),
                              ("evaluate", cmd_evaluate, "attack the last and best checkpoints -> eval.json")):
        p = sub.add_parser(name, parents=[common], help=help_, epilog=_train_epilog() if name == "train" else None,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--experiment", required=True, help="an experiment of the profile, e.g. mnist_linf")
        p.add_argument("--defense", required=True, help="a defense of the experiment, e.g. atent_linf")
        p.set_defaults(func=func)
    p.add_argument("--suite", choices=["evaluation", "audit"], default="evaluation",
                   help="evaluation: the profile's main suite on the last and best checkpoints -> eval.json; "
                        "audit: the stronger suite (AutoAttack, masking checks) on the last checkpoint -> audit.json")
    p = sub.add_parser("run", parents=[common], help="every run of one experiment: train (resumes), evaluate, audit, "
                       "then collect the results into results/<profile>/<experiment>.json")
    p.add_argument("--experiment", required=True, help="an experiment of the profile, e.g. mnist_linf")
    p.add_argument("--results-dir", default="results")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("attack", parents=[common], help="attack any checkpoint with a suite of the profile")
    p.add_argument("checkpoint", help="a checkpoint file (e.g. runs/quick/mnist_linf/pgd_at/best.pt)")
    p.add_argument("--suite", choices=["evaluation", "audit"], default="evaluation")
    p.add_argument("--out", help="JSON path (default: beside the checkpoint, <name>.<suite>.json)")
    p.set_defaults(func=cmd_attack)
    p = sub.add_parser("notebook", parents=[common], help="execute notebooks/NAME.py with papermill")
    p.add_argument("name", help="notebook name (file stem in notebooks/)")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"),
                   help="a parameter (VALUE parsed as YAML); the profile is passed as `profile`")
    p.add_argument("--build-dir", default="build", help="where the executed .ipynb is written")
    p.set_defaults(func=cmd_notebook)
    p = sub.add_parser("index", parents=[common], help="write figures/index.md: every figure and table, with the "
                       "notebook and parameters that made it")
    p.add_argument("--dvc-yaml", default="dvc.yaml")
    p.add_argument("--out", default="figures/index.md")
    p.add_argument("--lead", nargs="*", default=[], metavar="PROFILE",
                   help="profiles whose pipeline (pipelines/<profile>/dvc.yaml) is shown first, its tables in full")
    p.set_defaults(func=cmd_index)
    p = sub.add_parser("zoo", parents=[common], help="list the last checkpoints of the profile's PGD-AT and ATENT runs "
                       "(every seed) in zoo/index.json and zoo/README.md, with their accuracies and checksums "
                       "(atentlib.zoo.load reads them)")
    p.add_argument("--defenses", nargs="+", default=["pgd_at", "atent_linf", "atent_l2"],
                   help="defenses to export, with all their seeds")
    p.set_defaults(func=cmd_zoo)
    p = sub.add_parser("timings", parents=[common], help="where the pipeline's time went: training, attack and "
                       "notebook seconds recorded by the stages")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--build-dir", default="build", help="where the executed notebooks are")
    p.add_argument("--out", help="also write the summary to this Markdown file (e.g. tables/converged/timings.md)")
    p.set_defaults(func=cmd_timings)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (ProfileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # DataError, CheckpointError, TrainingError
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
