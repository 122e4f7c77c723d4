"""Forms of the key page and the personal access token pages.

The scope picker is built from the catalogue, so a replaced scopes.toml gives
a matching picker: one radio group per scope for the extensions that include
reading (full / manage / view), one checkbox per extension that does not
(automation's webhook_run).
"""

import re

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import IntegerField
from wtforms import RadioField
from wtforms import SelectChoice
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import DataRequired
from wtforms.validators import InputRequired
from wtforms.validators import Length
from wtforms.validators import NumberRange
from wtforms.validators import Optional
from wtforms.validators import ValidationError

from .. import policy
from ..fields import EXPIRATION_DAYS
from ..fields import NOTE
from ..fields import USERNAME
from ..lifecycle import MAX_GRACE_DAYS
from ..lifecycle import MAX_RATE_LIMIT
from ..models import Credential
from ..scopes import Catalogue
from ..validation import cidr_list
from .once import OnceField

NONE = "none"
FULL = "full"  # the bare scope: the form cannot send an empty radio value
MAX_DAYS = EXPIRATION_DAYS.high
PRESET_DAYS = ("7", "30", "60", "90")
CUSTOM = "custom"
NEVER = "never"
EXPIRY_CHOICES = [SelectChoice(days, f"{days} days") for days in PRESET_DAYS] + [
    SelectChoice(CUSTOM, "Custom"),
    SelectChoice(NEVER, "No expiry"),
]


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class KeyForm(FlaskForm):
    once = OnceField()
    kind = RadioField(
        "Kind",
        choices=[
            SelectChoice("export", "Export key (read only)"),
            SelectChoice("full", "Full access key"),
        ],
        default="export",
        validators=[InputRequired("Choose a kind of key.")],
    )
    label = StringField(
        "Label",
        filters=[_strip],
        validators=[
            DataRequired("Give the key a label."),
            Length(NOTE.low, NOTE.high, f"The label must be 1 to {NOTE.high} characters."),
        ],
        description="What the key is for, e.g. “deploy script”.",
    )
    # Empty: the key acts as its maker; an owner may name a service account of the project.
    acts_as = StringField("Acts as", filters=[_strip], validators=[Length(max=USERNAME.high)])


def grace_field() -> IntegerField:
    """How long a rotated-out secret keeps working: one field for keys and tokens."""
    return IntegerField(
        "Keep the old secret working for (days)",
        default=0,
        validators=[Optional(), NumberRange(0, MAX_GRACE_DAYS)],
        description=f"0 stops the old secret at once; at most {MAX_GRACE_DAYS} days.",
    )


def first_use_field() -> BooleanField:
    return BooleanField(
        "Stop the old secret as soon as the new one is first used",
        description="The grace days are then the longest it waits (7 when left at 0).",
    )


def rotation(form) -> dict:
    """regenerate()'s grace arguments from a regenerate form (as the API's)."""
    first_use = bool(form.until_first_use.data)
    grace = form.grace.data or (MAX_GRACE_DAYS if first_use else 0)
    return {"grace_days": grace, "until_first_use": first_use}


class RegenerateKeyForm(FlaskForm):
    once = OnceField()
    grace = grace_field()
    until_first_use = first_use_field()


class LimitsForm(FlaskForm):
    """A credential's rate limit and IP allowlist: the same form for PATs and project keys."""

    rate_limit = IntegerField(
        "Requests per minute",
        validators=[
            Optional(),
            NumberRange(
                1,
                MAX_RATE_LIMIT,
                f"Enter a whole number from 1 to {MAX_RATE_LIMIT:,}, or leave it empty.",
            ),
        ],
        description="Empty: no limit. Past it, requests get 429 until the minute ends.",
    )
    ip_allowlist = TextAreaField(
        "Allowed addresses",
        description="One network per line, e.g. 10.20.0.0/16 or 192.168.1.7. Empty: any address.",
    )

    @classmethod
    def of(cls, credential: Credential) -> "LimitsForm":
        return cls(
            formdata=None,
            data={
                "rate_limit": credential.rate_limit,
                "ip_allowlist": "\n".join(credential.ip_allowlist or []),
            },
        )

    def validate_ip_allowlist(self, field):
        entries = [part for part in re.split(r"[\s,]+", field.data or "") if part]
        try:
            self.networks = cidr_list(entries)  # the API's check: one rule for both
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    def limits(self) -> dict:
        """The fields for lifecycle.update; only after validate()."""
        return {"rate_limit": self.rate_limit.data, "ip_allowlist": self.networks}


class ConfirmForm(FlaskForm):
    """A button that only needs CSRF protection (revoke, delete)."""


class ExpiryMixin:
    expiry = RadioField(
        "Expires",
        choices=EXPIRY_CHOICES,
        default="30",
        validators=[InputRequired("Choose when the token expires.")],
    )
    # Text, not IntegerField: a blank box is fine unless "Custom" is chosen.
    custom_days = StringField(
        "Custom number of days",
        filters=[_strip],
        description=f"A whole number from 1 to {MAX_DAYS}.",
    )

    def validate_custom_days(self, field):
        if self.expiry.data != CUSTOM:
            return
        text = field.data or ""
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_DAYS:
            raise ValidationError(f"Enter a whole number of days from 1 to {MAX_DAYS}.")

    def validate_expiry(self, field):
        if field.data == CUSTOM and self.custom_days.errors:
            return
        if field.data not in (CUSTOM, NEVER) and field.data not in PRESET_DAYS:
            return  # the choices' own check says so
        if field.data == CUSTOM and not (self.custom_days.data or "").isdigit():
            return
        refused = policy.refusal(self.expiration_days())
        if refused:
            raise ValidationError(refused)

    def expiration_days(self) -> int | None:
        """The expiry as whole days, or None for no expiry; only after validate()."""
        if self.expiry.data == NEVER:
            return None
        if self.expiry.data == CUSTOM:
            return int(self.custom_days.data)
        return int(self.expiry.data)


class ScopePicker:
    """The catalogue's scopes as form fields, and back again as scope strings."""

    def __init__(self, catalogue: Catalogue):
        self.catalogue = catalogue
        self.rows = []  # (scope, radio field name, [(extension, checkbox field name)])
        for scope in catalogue.scopes.values():
            levels = [ext for ext in scope.extensions if self._is_level(ext)]
            addons = [ext for ext in scope.extensions if not self._is_level(ext)]
            self.rows.append(
                (
                    scope,
                    f"scope_{scope.name}",
                    levels,
                    [(ext, f"scope_{scope.name}__{ext}") for ext in addons],
                )
            )

    def _is_level(self, ext: str) -> bool:
        return "read" in self.catalogue.extensions[ext]

    def fields(self) -> dict:
        fields = {}
        for scope, radio, levels, addons in self.rows:
            ascending = sorted(levels, key=lambda ext: len(self.catalogue.extensions[ext]))
            choices = [SelectChoice(NONE, "none"), *(SelectChoice(e or FULL) for e in ascending)]
            fields[radio] = RadioField(scope.name, choices=choices, default=NONE)
            for ext, checkbox in addons:
                fields[checkbox] = BooleanField(f"{scope.name}:{ext}")
        return fields

    def scopes(self, form) -> list[str]:
        """The chosen scope strings; a value outside a radio's choices counts as none."""
        chosen = []
        for scope, radio, levels, addons in self.rows:
            level = form[radio].data
            if level == FULL and "" in levels:
                chosen.append(scope.name)
            elif level in levels and level:
                chosen.append(f"{scope.name}:{level}")
            chosen.extend(f"{scope.name}:{ext}" for ext, checkbox in addons if form[checkbox].data)
        return chosen

    def initial(self, scopes: list[str]) -> dict:
        """Form data for existing scopes; of two levels of one scope, the broader wins."""
        data = {}
        for scope in scopes or []:
            if not self.catalogue.known(scope):
                continue  # grants nothing; the page lists it, and saving drops it
            name, ext = self.catalogue.validate(scope)
            field = f"scope_{name}"
            if not self._is_level(ext):
                data[f"{field}__{ext}"] = True
                continue
            current = data.get(field)
            if current is None or self._breadth(ext) > self._breadth(
                "" if current == FULL else current
            ):
                data[field] = ext or FULL
        return data

    def _breadth(self, ext: str) -> int:
        return len(self.catalogue.extensions[ext])


def token_form(catalogue: Catalogue, *, with_expiry: bool, **kwargs) -> FlaskForm:
    """A form with note and the scope picker, plus the expiry picker when creating."""
    picker = ScopePicker(catalogue)
    bases = (ExpiryMixin, FlaskForm) if with_expiry else (FlaskForm,)
    attrs = {
        "note": StringField(
            "Note",
            filters=[_strip],
            validators=[
                DataRequired("Write a note: what is this token for?"),
                Length(NOTE.low, NOTE.high, f"The note must be 1 to {NOTE.high} characters."),
            ],
            description=f"What the token is for (1–{NOTE.high} characters).",
        ),
        **picker.fields(),
    }
    if with_expiry:  # creating: the response reveals a secret
        attrs["once"] = OnceField()

    def validate(self, extra_validators=None):
        ok = FlaskForm.validate(self, extra_validators)
        if not picker.scopes(self):
            self.scope_errors.append("Choose at least one scope.")
            ok = False
        return ok

    attrs["validate"] = validate
    cls = type(FlaskForm)("TokenForm", bases, attrs)
    form = cls(**kwargs)
    form.picker = picker
    form.scope_errors = []
    return form


class RegenerateTokenForm(ExpiryMixin, FlaskForm):
    once = OnceField()
    grace = grace_field()
    until_first_use = first_use_field()
