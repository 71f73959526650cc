"""`python -m bot` starts the bot; `python -m bot export …` exports a month without chat."""

from __future__ import annotations

import sys


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "export":
        from .cli import export_main

        sys.exit(export_main(sys.argv[2:]))

    from pydantic import ValidationError

    from models.rubric import RubricError

    try:
        from .app import create_app

        create_app()
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
