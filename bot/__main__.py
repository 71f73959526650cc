"""`python -m bot` starts the bot; `python -m bot export …` exports a month without chat;
`python -m bot rotate-web-key` replaces the dashboard's cookie-signing key; `backup`,
`restore`, `move-db`, `dump` and `load` are the operations of SPEC §5."""

from __future__ import annotations

import os
import sys

SUBCOMMANDS = {
    "export": "export_main",
    "rotate-web-key": "rotate_web_key_main",
    "backup": "backup_main",
    "restore": "restore_main",
    "move-db": "move_db_main",
    "dump": "dump_main",
    "load": "load_main",
}


def main() -> None:
    os.umask(0o077)  # the database, exports, evidence, backups: readable by this user only
    if len(sys.argv) > 1 and sys.argv[1] in SUBCOMMANDS:
        from . import cli

        sys.exit(getattr(cli, SUBCOMMANDS[sys.argv[1]])(sys.argv[2:]))

    from pydantic import ValidationError

    from models.rubric import RubricError

    from .doors import ExposureError

    try:
        from .app import create_app

        create_app()
    except ExposureError as e:
        print("配置错误 / invalid configuration (.env):", file=sys.stderr)
        print(f"  {e.key}: {e.zh}\n  {e.key}: {e.en}", file=sys.stderr)
        sys.exit(2)
    except ValidationError as e:
        print("配置错误 / invalid configuration (.env):", file=sys.stderr)
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"]).upper()
            print(f"  {key}: {err['msg']}", file=sys.stderr)
        sys.exit(2)
    except RubricError as e:
        print(f"考核表错误 / invalid rubric:\n  {e}", file=sys.stderr)
        sys.exit(2)

    import nonebot

    nonebot.run()


if __name__ == "__main__":
    main()
