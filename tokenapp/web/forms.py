"""Forms of the account and project pages. Every FlaskForm carries the CSRF token.

Forms check shape only (present, equal, a URL); the domain modules own the
rules (username and password rules, slugs, roles, the last owner).
"""

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import EqualTo
from wtforms.validators import Length
from wtforms.validators import ValidationError
from wtforms.widgets import PasswordInput

from .. import validation
from ..fields import EXPIRATION_DAYS
from ..fields import PASSKEY_NAME
from ..fields import PROJECT_NAME
from ..fields import SLUG
from ..fields import USERNAME
from ..models import ROLES
from ..service_accounts import ROLES as SERVICE_ROLES


def _strip(value):
    return value.strip() if isinstance(value, str) else value


ROLE_CHOICES = [SelectChoice(role, role.capitalize()) for role in ROLES]


class SetupForm(FlaskForm):
    # Pasted codes come with spaces and line ends; the passwords survive a failed try.
    code = StringField("Setup code", validators=[DataRequired()], filters=[_strip])
    username = StringField("Username", validators=[DataRequired(), Length(max=USERNAME.high)])
    password = PasswordField(
        "Password", validators=[DataRequired()], widget=PasswordInput(hide_value=False)
    )
    confirm = PasswordField(
        "Confirm password",
        validators=[DataRequired(), EqualTo("password", "The passwords do not match.")],
        widget=PasswordInput(hide_value=False),
    )


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=200)])
    password = PasswordField("Password", validators=[DataRequired()])


class CodeForm(FlaskForm):
    """A code from the authenticator app, or a recovery code."""

    code = StringField("Code", validators=[DataRequired(), Length(max=40)], filters=[_strip])


class PasskeyForm(FlaskForm):
    """A WebAuthn answer as JSON (filled in by static/passkeys.js), and a name when adding one."""

    name = StringField("Name", validators=[Length(max=PASSKEY_NAME.high)], filters=[_strip])
    credential = HiddenField(validators=[DataRequired(), Length(max=20000)])


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    password = PasswordField("New password", validators=[DataRequired()])
    confirm = PasswordField(
        "Confirm new password",
        validators=[DataRequired(), EqualTo("password", "The passwords do not match.")],
    )


def _webhook_url(form, field) -> None:
    try:
        field.data = validation.webhook_url(field.data) or ""
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class WebhookForm(FlaskForm):
    webhook_url = StringField("Expiry-warning webhook URL", validators=[_webhook_url])


class ResetPasswordForm(FlaskForm):
    password = PasswordField("Temporary password", validators=[DataRequired()])
    confirm = PasswordField(
        "Confirm the temporary password",
        validators=[DataRequired(), EqualTo("password", "The passwords do not match.")],
    )


class CreateUserForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=USERNAME.high)])
    password = PasswordField("Password", validators=[DataRequired()])
    is_admin = BooleanField("Administrator")


class ActionForm(FlaskForm):
    """A button that changes state: nothing but the CSRF token and one value."""

    value = HiddenField()


class ProjectForm(FlaskForm):
    slug = StringField("Slug", validators=[DataRequired(), Length(max=SLUG.high)])
    name = StringField("Name", validators=[Length(max=PROJECT_NAME.high)])


class AddMemberForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=USERNAME.high)])
    role = SelectField("Role", choices=ROLE_CHOICES, default="viewer")


class ServiceAccountForm(FlaskForm):
    # Named apart from AddMemberForm's fields: both forms are on the members page.
    service_name = StringField(
        "Name", validators=[DataRequired(), Length(max=USERNAME.high)], filters=[_strip]
    )
    service_role = SelectField(
        "Role", choices=[c for c in ROLE_CHOICES if c.value in SERVICE_ROLES], default="editor"
    )


class AppointOwnerForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=USERNAME.high)])


def _days_or_blank(form, field) -> None:
    value = (field.data or "").strip()
    field.data = value
    low, high = EXPIRATION_DAYS.low, EXPIRATION_DAYS.high  # policy.save's bounds too
    if value and not (value.isascii() and value.isdigit() and low <= int(value) <= high):
        raise ValidationError(
            f"A whole number of days from {low} to {high}, or empty for no maximum."
        )


class PolicyForm(FlaskForm):
    max_days = StringField(
        "Longest token lifetime (days)",
        validators=[_days_or_blank],
        description="Empty: no maximum. A maximum also requires every token to expire.",
    )
    expiry_required = BooleanField("Every token must expire")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)
