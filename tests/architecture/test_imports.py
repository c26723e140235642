"""No import circles in services/, and the service boundaries: a service imports only itself
and citela_common; the platform (the composition root) may import them all.

Every ``import`` statement counts, at module level or inside a function: an import moved
into a function to dodge a circle still closes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

from tests.architecture.workspace import Import, imports_of, packages

COMMON = "citela_common"
COMPOSITION_ROOT = "citela_platform"
OWN = {package.import_name for package in packages()}


def graph() -> dict[str, dict[str, Import]]:
    """Module -> the workspace modules it imports (and the first statement importing each)."""
    edges: dict[str, dict[str, Import]] = {}
    for package in packages():
        for module, path in package.modules().items():
            targets = edges.setdefault(module, {})
            for imported in imports_of(package, path):
                if imported.top in OWN and imported.module != module:
                    targets.setdefault(imported.module, imported)
    return edges


def cycles(edges: dict[str, dict[str, Import]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each as one
    cycle through its modules, in a stable order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, {})):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return [one_cycle(sorted(c), edges) for c in sorted(components)]


def one_cycle(component: list[str], edges: dict[str, dict[str, Import]]) -> list[str]:
    """A path from the component's first module back to itself, inside the component."""
    members = set(component)
    start = component[0]
    paths: list[list[str]] = [[start]]
    seen = {start}
    while paths:
        path = paths.pop(0)
        for target in sorted(edges.get(path[-1], {})):
            if target == start:
                return [*path, start]
            if target in members and target not in seen:
                seen.add(target)
                paths.append([*path, target])
    raise AssertionError(f"no cycle through {component}")


def describe(cycle: list[str], edges: dict[str, dict[str, Import]]) -> str:
    steps = []
    for source, target in pairwise(cycle):
        imported = edges[source][target]
        how = " (in a function)" if imported.in_function else ""
        steps.append(f"{source} -> {target} [{imported.where()}{how}]")
    return "\n    ".join(steps)


def test_no_import_circle_in_services() -> None:
    edges = graph()
    found = cycles(edges)
    assert not found, f"{len(found)} import circle(s):\n  " + "\n  ".join(
        describe(c, edges) for c in found
    )


def test_the_cycle_finder_finds_circles() -> None:
    fake = Import("x", packages()[0].files()[0], 1, in_function=True)
    edges = {"a": {"b": fake}, "b": {"c": fake}, "c": {"a": fake, "d": fake}, "d": {}}
    assert cycles(edges) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b": fake}, "b": {}}) == []


def crossings() -> Iterator[str]:
    for package in packages():
        if package.import_name == COMPOSITION_ROOT:
            continue
        allowed = {package.import_name, COMMON}
        for path in package.files():
            for imported in imports_of(package, path):
                if imported.top in OWN and imported.top not in allowed:
                    yield f"{imported.where()}: {package.import_name} imports {imported.module}"


def test_services_import_only_themselves_and_common() -> None:
    found = list(crossings())
    assert not found, "a service imports another:\n  " + "\n  ".join(found)
