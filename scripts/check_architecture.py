"""Architecture checks that import-linter's contracts (.importlinter) do not express; run by `make lint`.

1. No import cycle between any two modules of app/ and tasks/ (package __init__ modules included, imports inside
   functions included): a cycle is reported with one path around it.
2. No module in app/ over 600 lines.
3. One htmx helper: no `def is_htmx` outside app/web/htmx.py.
4. No branch on a provider's name outside the provider registries (app/integrations/): services, web and api
   call the registry instead of comparing with "zoom", "google", "caldav"...

Exit status 1 with one line per finding; 0 and a summary line when everything holds.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 600
HTMX_HELPER = "app/web/htmx.py"
PROVIDERS = ("google", "google_meet", "microsoft", "outlook", "teams", "zoom", "webex", "caldav", "ics", "stripe",
             "paypal")
PROVIDER_BRANCH = re.compile(r"""(provider|location_type|location)\s*(==|!=)\s*["'](""" + "|".join(PROVIDERS)
                             + r""")["']""")


def _cycles(packages: tuple[str, ...]) -> list[list[str]]:
    import grimp

    graph = grimp.build_graph(*packages)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        # iterative Tarjan: (node, iterator over its imports)
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    cycles = []
    for component in components:
        members = set(component)
        start = component[0]
        path = graph.find_shortest_chain(importer=start, imported=next(
            m for m in edges[start] if m in members)) or [start]
        back = graph.find_shortest_chain(importer=path[-1], imported=start) or [path[-1], start]
        cycles.append(path + back[1:])
    return cycles


def main() -> int:
    problems: list[str] = []
    for cycle in _cycles(("app", "tasks")):
        problems.append("import cycle: " + " -> ".join(cycle))
    for path in sorted((ROOT / "app").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        text = path.read_text()
        lines = text.count("\n")
        if lines > MAX_LINES:
            problems.append(f"{relative}: {lines} lines (at most {MAX_LINES})")
        if "def is_htmx" in text and relative != HTMX_HELPER:
            problems.append(f"{relative}: defines is_htmx (use {HTMX_HELPER})")
        if not relative.startswith("app/integrations/"):
            for number, line in enumerate(text.splitlines(), 1):
                if PROVIDER_BRANCH.search(line):
                    problems.append(f"{relative}:{number}: branches on a provider name (use its registry)")
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print("architecture: no import cycles, no module over 600 lines, one htmx helper, no provider branches")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
