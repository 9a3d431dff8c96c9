"""`gapkit train`'s command line: its flags are the config's."""


def test_train_flags_come_from_the_config_and_each_has_help():
    """Every CloseConfig key documents itself, and `gapkit train` offers exactly the keys marked
    as flags, each with that help text and a value that lands in the config."""
    import argparse
    import dataclasses

    from gapkit.cli import train as train_cli
    from gapkit.close.config import CloseConfig

    fields = dataclasses.fields(CloseConfig)
    assert all(f.metadata.get("help") for f in fields)
    assert {f.metadata["flag"] for f in fields} - {None} <= {*train_cli.KINDS, "bool"}
    parser = argparse.ArgumentParser()
    train_cli.add_parser(parser.add_subparsers(), "train")
    actions = {a.dest: a for a in parser._subparsers._group_actions[0].choices["train"]._actions}
    for f in train_cli.config_flags():
        assert actions[f.name].help == f.metadata["help"]
    args = parser.parse_args(
        ["train", "--out", "x", "--world-seed", "3", "--no-early-stopping", "--noise", "0.1"]
    )
    cfg = train_cli.config_from_args(args)
    assert (cfg.world_seed, cfg.early_stopping, cfg.noise) == (3, False, 0.1)
