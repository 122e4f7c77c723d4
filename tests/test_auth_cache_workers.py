"""The auth cache across `tokenapp serve`'s workers (issue 16): a change made by the CLI, a
separate process, is refused on the next request by every worker whose cache is warm."""

import subprocess

import pytest
from deploy_support import TOKENAPP
from deploy_support import Server
from deploy_support import clean_env
from test_first_use import _statuses

CHANGES = {
    "user deactivate": ["user", "deactivate", "mark"],
    "project remove-member": ["project", "remove-member", "alpha", "mark"],
}


@pytest.mark.server
@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_a_cli_change_is_refused_by_every_warm_worker(
    tmp_path, database_url, make_user, make_project, make_key, change
):
    owner, member = make_user("olive"), make_user("mark")
    project = make_project("alpha", owner=owner, members=[(member, "editor")])
    _, secret = make_key(project, member, "full")
    env = clean_env(TOKENAPP_INSTANCE_PATH=str(tmp_path / "a"), TOKENAPP_DATABASE_URL=database_url)
    argv = [TOKENAPP, "serve", "--workers", "2"]
    with Server(argv, env=env, cwd=tmp_path, log=tmp_path / "a.log") as server:
        assert _statuses([server], secret, 16) == [200] * 16  # both workers warm
        done = subprocess.run(
            [TOKENAPP, *change], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert _statuses([server], secret, 16) == [401] * 16
