from collections.abc import Callable

import pytest
from pydantic import BaseModel

from lifeboat.models import parse_label_selector, selector_matches
from lifeboat.models.labels import LabelKey, LabelSelectorText, LabelValue, SelectorOperator

Rejection = Callable[..., str]
"""The ``rejection`` fixture of conftest.py."""


class Labelled(BaseModel):
    selector: LabelSelectorText | None = None
    labels: dict[LabelKey, LabelValue] = {}


@pytest.mark.parametrize(
    ("text", "key", "operator", "values"),
    [
        ("app=web", "app", SelectorOperator.EQUALS, {"web"}),
        ("app == web", "app", SelectorOperator.EQUALS, {"web"}),
        ("app!=web", "app", SelectorOperator.NOT_EQUALS, {"web"}),
        ("tier in (db, cache)", "tier", SelectorOperator.IN, {"db", "cache"}),
        ("tier notin (db)", "tier", SelectorOperator.NOT_IN, {"db"}),
        ("app.kubernetes.io/name", "app.kubernetes.io/name", SelectorOperator.EXISTS, set()),
        ("!legacy", "legacy", SelectorOperator.DOES_NOT_EXIST, set()),
        ("app=", "app", SelectorOperator.EQUALS, {""}),
    ],
)
def test_each_form_parses(
    text: str, key: str, operator: SelectorOperator, values: set[str]
) -> None:
    (requirement,) = parse_label_selector(text)
    assert (requirement.key, requirement.operator, set(requirement.values)) == (
        key,
        operator,
        values,
    )


def test_terms_combine_and_match_like_kubernetes() -> None:
    requirements = parse_label_selector("app=web, tier in (db,cache), !legacy, env notin (prod)")
    assert len(requirements) == 4
    assert selector_matches(requirements, {"app": "web", "tier": "db"})
    assert selector_matches(requirements, {"app": "web", "tier": "cache", "env": "dev"})
    assert not selector_matches(requirements, {"app": "web", "tier": "db", "legacy": "1"})
    assert not selector_matches(requirements, {"app": "web", "tier": "db", "env": "prod"})
    assert not selector_matches(requirements, {"app": "api", "tier": "db"})
    assert selector_matches(parse_label_selector("a!=b"), {})
    assert selector_matches(parse_label_selector(""), {"anything": "x"})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("app in (a,b", "'(' is never closed"),
        ("app in a,b)", "')' without a matching '('"),
        ("app=web,,tier=db", "has an empty term"),
        ("app=web,", "has an empty term"),
        ("app in ()", "has an empty set of values"),
        ("app = web api", "has none of the allowed forms"),
        ("app>1", "key 'app>1' has an invalid name"),
        ("-app=web", "key '-app' has an invalid name"),
        ("app=-web", "value '-web' has an invalid value"),
        ("Bad_Prefix/app=web", "has an invalid prefix 'Bad_Prefix'"),
        ("/app", "has an empty prefix before '/'"),
        (f"app={'v' * 64}", "at most 63 are allowed"),
    ],
)
def test_invalid_selectors_name_value_term_and_forms(
    rejection: Rejection, text: str, problem: str
) -> None:
    message = rejection(Labelled, {"selector": text})
    assert message.startswith(f"selector: {text!r} is not a valid label selector: ")
    assert problem in message
    assert message.endswith(
        "allowed comma-separated terms: key=value, key==value, key!=value, "
        "key in (v1,v2), key notin (v1,v2), key, !key"
    )


def test_label_keys_and_values(rejection: Rejection) -> None:
    ok = Labelled(labels={"lifeboat.io/team": "storage", "empty": ""})
    assert ok.labels == {"lifeboat.io/team": "storage", "empty": ""}
    assert "'-x' is not a valid label value" in rejection(Labelled, {"labels": {"a": "-x"}})
    assert "'a b' is not a valid label key" in rejection(Labelled, {"labels": {"a b": "x"}})
