"""The console's draft: a save is validated like `ruta kb validate` and its errors go beside their fields; saved
fields are logged one by one; publishing makes a version and closes the draft; nothing in the log is rewritten."""

from __future__ import annotations

import pytest

from bot.kb_drafts import Drafts
from bot.kb_forms import field_errors, form_fields, read_form
from bot.kb_items import KINDS, item_data, items
from bot.kb_versions import KnowledgeVersions
from bot.storage import Store


@pytest.fixture
def drafts(database_url: str) -> Drafts:
    versions = KnowledgeVersions(Store(database_url))
    versions.adopt_package()
    return Drafts(versions)


def _posted(kind: str, data: dict) -> dict:
    """What a browser posts for a form showing `data` (checkboxes as lists, unticked ones absent)."""
    form: dict = {}
    for field in form_fields(KINDS[kind].model, data):
        if field.widget == "checkboxes":
            form[field.name] = field.value
        elif field.widget != "checkbox" or field.value:
            form[field.name] = "on" if field.widget == "checkbox" else field.value
    return form


def test_a_call_closing_before_it_opens_is_refused_beside_the_field(drafts):
    call = items(drafts.files(), KINDS["call"])[0]
    before = item_data(drafts.files(), call)
    form = {**_posted("call", before), "opens": "2025-05-01", "closes": "2025-04-01"}
    data, unreadable = read_form(KINDS["call"].model, form, before)
    assert not unreadable
    saved = drafts.save_item(call, data, "ana")
    beside, apart = field_errors(saved.problems, call.file, call.key)
    assert not saved.changed and drafts.open_draft() is None
    assert "la fecha de cierre (2025-04-01) es anterior a la de apertura (2025-05-01)" in [*beside.values(), *apart]


def test_unreadable_values_are_named_in_spanish(drafts):
    call = items(drafts.files(), KINDS["call"])[0]
    before = item_data(drafts.files(), call)
    _, unreadable = read_form(
        KINDS["call"].model, {**_posted("call", before), "year": "dos mil", "opens": "ayer"}, before
    )
    assert unreadable == {"year": "debe ser un número", "opens": "debe ser una fecha (AAAA-MM-DD)"}


def test_an_office_address_is_saved_logged_field_by_field_and_published(drafts):
    office = items(drafts.files(), KINDS["office"])[0]
    before = item_data(drafts.files(), office)
    form = {**_posted("office", before), "address": "Atacama 1024, Copiapó", "hours": "lunes a viernes, 8:30 a 14:00"}
    data, _ = read_form(KINDS["office"].model, form, before)
    saved = drafts.save_item(office, data, "ana", "dato de la oficina")
    assert saved.changed == ["address", "hours"] and not saved.problems
    assert drafts.save_item(office, data, "ana").changed == []  # saving the same again changes nothing
    publication = drafts.publish("pedro", "dirección del Centro de Negocios")
    assert publication.action == "publish" and drafts.open_draft() is None
    assert item_data(drafts.versions.files(publication.version_id), office)["address"] == "Atacama 1024, Copiapó"
    log = [(row.action, row.author, row.field, row.before, row.after) for row in reversed(drafts.audit())]
    assert log[:2] == [
        ("edit", "ana", "address", None, "Atacama 1024, Copiapó"),
        ("edit", "ana", "hours", None, "lunes a viernes, 8:30 a 14:00"),
    ]
    assert log[2][:2] == ("publish", "pedro")


def test_a_rollback_is_logged(drafts):
    seeded = drafts.versions.serving()
    office = items(drafts.files(), KINDS["office"])[0]
    drafts.save_item(office, {**item_data(drafts.files(), office), "phone": "+56 52 2 000000"}, "ana")
    drafts.publish("pedro", "teléfono")
    drafts.rollback(seeded.version_id, "pedro", "el teléfono estaba mal")
    assert drafts.versions.serving().version_id == seeded.version_id
    assert drafts.audit()[0].action == "rollback" and drafts.audit()[0].note == "el teléfono estaba mal"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # forms and validation: 30 s, little storage
def test_every_kind_round_trips_through_its_form_unchanged(drafts):
    files = drafts.files()
    for kind in KINDS.values():
        for item in items(files, kind):
            before = item_data(files, item)
            data, unreadable = read_form(kind.model, _posted(kind.name, before), before)
            assert not unreadable and drafts.save_item(item, data, "ana").changed == [], item
