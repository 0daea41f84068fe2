"""Azure's tag rules (names.tag_problem): names of 1-512 characters without < > % & \\ ? /, values up to 256.

Source: Azure Resource Manager's documented tag limits ("Use tags to organize your Azure resources": tag names
are limited to 512 characters, values to 256, and names can't contain <, >, %, &, \\, ?, /).
"""

from __future__ import annotations

import pytest

from generator.names import tag_problem


@pytest.mark.parametrize("name", ["a<b", "a>b", "a%b", "a&b", "a\\b", "a?b", "a/b", "", "k" * 513])
def test_refused_tag_names(name):
    assert tag_problem(name, "v") is not None


def test_accepted_tags():
    assert tag_problem("k" * 512, "v" * 256) is None
    assert tag_problem("cost-center.team_1 (x)", 3) is None
    assert tag_problem("owner", "v" * 257) is not None
