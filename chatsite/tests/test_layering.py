"""The architecture's rules that import-linter cannot state (.importlinter has
the rest; `make test` runs both): no import cycle anywhere in the project's
code, and only chat.events.broadcast uses the channel layer."""

import ast
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("chatsite", "accounts", "chat")
# The layer's own implementation, and the one module allowed to use it.
LAYER_USERS = {"chat/events/broadcast.py", "chat/realtime/layer.py"}
LAYER_NAMES = {"get_channel_layer", "channel_layers", "group_send", "group_add", "group_discard", "channel_layer"}


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    modules = sorted(m for m in graph.modules if m.split(".")[0] in PACKAGES and ".tests" not in m)
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                if imported in modules_set:
                    visit(imported)
                    low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    modules_set = set(modules)
    for module in modules:
        if module not in index:
            visit(module)
    return found


def _package_edges(graph, module: str) -> set[str]:
    """A package imports its own submodules by design (``from . import x``); drop those edges."""
    return {m for m in graph.find_modules_directly_imported_by(module) if not m.startswith(module + ".")}


def test_no_import_cycle_in_the_project():
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False)
    for module in list(graph.modules):
        # An __init__ that only documents its package imports nothing; one that
        # re-exports would show up here as a cycle with its submodules.
        for imported in graph.find_modules_directly_imported_by(module) - _package_edges(graph, module):
            graph.remove_import(importer=module, imported=imported)
    assert _cycles(graph) == []


def _source_files():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/tests/" not in relative and "/migrations/" not in relative:
                yield relative, path


def _layer_uses(tree) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in LAYER_NAMES:
            names.add(node.attr)
        elif isinstance(node, ast.Name) and node.id in LAYER_NAMES:
            names.add(node.id)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("channels.layers", "channels_redis")):
            names.add(node.module)
    return names


CHECKED_FILES = [(relative, path) for relative, path in _source_files() if relative not in LAYER_USERS]


@pytest.mark.parametrize("relative,path", CHECKED_FILES, ids=[relative for relative, _ in CHECKED_FILES])
def test_only_the_broadcast_module_touches_the_channel_layer(relative, path):
    assert _layer_uses(ast.parse(path.read_text(), filename=relative)) == set(), (
        f"{relative} uses the channel layer; go through chat.events.broadcast"
    )


def test_the_cycle_check_can_fail():
    graph = grimp.ImportGraph()
    graph.add_import(importer="chat.a", imported="chat.b")
    graph.add_import(importer="chat.b", imported="chat.c")
    graph.add_import(importer="chat.c", imported="chat.a")
    graph.add_import(importer="chat.c", imported="chat.d")
    assert _cycles(graph) == [["chat.a", "chat.b", "chat.c"]]


def test_the_layer_check_can_fail():
    assert _layer_uses(ast.parse("async def f(self):\n    await self.channel_layer.group_send('g', {})\n")) == {
        "channel_layer",
        "group_send",
    }
