"""Console administration.

python -m bot.console add-user NAME          # asks for the password twice (or reads one line from stdin)
python -m bot.console export-corrections [--out FILE]
"""

from __future__ import annotations

import argparse
import getpass
import sys

from bot.console.models import create_tables
from bot.console.security import MIN_PASSWORD
from bot.console.service import add_user, export_corrections


def main(argv: list[str] | None = None) -> int:
    """Command line (python -m bot.console): add-user, export-corrections; see --help."""
    parser = argparse.ArgumentParser(prog="python -m bot.console", description="银龄助手话务员控制台管理")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_add = sub.add_parser("add-user", help="创建话务员账号（已存在则重设密码）")
    p_add.add_argument("name")
    p_exp = sub.add_parser("export-corrections", help="把纠错记录导出成 dev_cases.yaml 格式的用例")
    p_exp.add_argument("--out", help="写入文件（默认打印到标准输出）")
    args = parser.parse_args(argv)
    create_tables()

    if args.cmd == "add-user":
        name = args.name.strip()
        if not name or len(name) > 64:
            print("用户名不能为空，且不超过 64 个字符。", file=sys.stderr)
            return 2
        if sys.stdin.isatty():
            password = getpass.getpass("密码：")
            if getpass.getpass("再输一次：") != password:
                print("两次输入的密码不一致。", file=sys.stderr)
                return 2
        else:
            password = sys.stdin.readline().rstrip("\r\n")
        if len(password) < MIN_PASSWORD:
            print(f"密码至少 {MIN_PASSWORD} 个字符。", file=sys.stderr)
            return 2
        add_user(name, password)
        print(f"已保存话务员账号：{name}")
        return 0

    text = export_corrections()
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"已导出到 {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
