"""JupyterHub for a ttfs-lab workshop on one machine (`make hub`; see README "Run a workshop").

Every piece is JupyterHub's own:
- sign-in: a shared workshop password (JupyterHub's SharedPasswordAuthenticator) combined with
  LocalAuthenticator, which creates a real Unix account per student on first sign-in
  (``useradd`` with a home of mode 0700, so students cannot read each other's files);
- LocalProcessSpawner: each student's own single-user server and kernels, run as that account,
  landing on the playground dashboard (Voilà as a Jupyter server extension);
- configurable-http-proxy (npm, pinned in deploy/hub/proxy/package-lock.json);
- jupyterhub-idle-culler as a hub service.

Settings (environment; nothing secret is in the repository):
    TTFS_HUB_PASSWORD        the workshop password (>= 8 characters), or
    TTFS_HUB_PASSWORD_FILE   a file holding it (default <hub dir>/password; created with a
                             random password, mode 0600, if neither exists)
    TTFS_HUB_DIR             the hub's database, cookie secret, password (default
                             ~/.local/share/ttfs-lab-hub of the user running the hub)
    TTFS_HUB_PORT            public port on 127.0.0.1 (default 8000); TTFS_HUB_IP to change the address
    TTFS_HUB_USER_PREFIX     prefix of the Unix accounts (default "ttfs-": student "ada" runs as
                             "ttfs-ada", so no student name can ever be an existing account)
    TTFS_HUB_HOME_BASE       parent folder of the students' homes (default /home)
    TTFS_HUB_CULL_TIMEOUT    seconds of inactivity before a server is stopped (default 3600)
"""
import json
import os
import secrets
import socket
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VENV_BIN = Path(sys.executable).parent  # the hub runs from the project's .venv
HUB_DIR = Path(os.environ.get("TTFS_HUB_DIR") or Path.home() / ".local" / "share" / "ttfs-lab-hub").expanduser()
HUB_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
PREFIX = os.environ.get("TTFS_HUB_USER_PREFIX", "ttfs-")

c = get_config()  # noqa: F821 (provided by JupyterHub when it reads this file)

if os.geteuid() != 0:
    sys.exit("make hub: JupyterHub must run as root here, to create one Unix account per student "
             "and start each student's server as that account (students then cannot read each other's files).")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workshop_password() -> str:
    password = os.environ.get("TTFS_HUB_PASSWORD", "")
    if password:
        return password
    path = Path(os.environ.get("TTFS_HUB_PASSWORD_FILE") or HUB_DIR / "password").expanduser()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(9) + "\n")
        print(f"[ttfs-lab] new workshop password written to {path}", file=sys.stderr)
    password = path.read_text().strip()
    print(f"[ttfs-lab] workshop password: {password}   (from {path})", file=sys.stderr)
    return password


# ------------------------------------------------------------------ network: loopback only
ip = os.environ.get("TTFS_HUB_IP", "127.0.0.1")
port = int(os.environ.get("TTFS_HUB_PORT", "8000"))
c.JupyterHub.bind_url = f"http://{ip}:{port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = free_port()  # never a fixed port: several hubs may share this machine
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.command = [str(HERE / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy")]
c.JupyterHub.db_url = f"sqlite:///{HUB_DIR / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(HUB_DIR / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(HUB_DIR / "jupyterhub.pid")

# ------------------------------------------------------------------ sign-in
from jupyterhub.auth import LocalAuthenticator  # noqa: E402
from jupyterhub.authenticators.shared import SharedPasswordAuthenticator  # noqa: E402


class WorkshopAuthenticator(LocalAuthenticator, SharedPasswordAuthenticator):
    """Shared workshop password; a Unix account (PREFIX + name, home 0700) per student."""

    def normalize_username(self, username):
        name = super().normalize_username(username)
        return name if name.startswith(PREFIX) else PREFIX + name


c.JupyterHub.authenticator_class = WorkshopAuthenticator
c.WorkshopAuthenticator.user_password = workshop_password()
c.WorkshopAuthenticator.allow_all = True  # anyone with the workshop password
# Names students may type: short, lower-case, safe as a Unix account name.
c.WorkshopAuthenticator.username_pattern = r"^[a-z][a-z0-9_-]{0,22}$"
c.WorkshopAuthenticator.create_system_users = True
c.WorkshopAuthenticator.add_user_cmd = [
    "useradd", "--create-home", "--base-dir", os.environ.get("TTFS_HUB_HOME_BASE", "/home"),
    "-K", "HOME_MODE=0700", "--shell", "/usr/sbin/nologin", "--comment", "ttfs-lab student",
]

# ------------------------------------------------------------------ one server per student
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(HERE / "singleuser.sh")]
c.Spawner.default_url = "/voila/render/playground.ipynb"
c.Spawner.notebook_dir = "~"
c.Spawner.ip = "127.0.0.1"
c.Spawner.start_timeout = 180  # 30 students starting at once on 2 cores
c.Spawner.http_timeout = 180
c.Spawner.environment = {
    "TTFS_LAB_REPO": str(REPO),
    "TTFS_LAB_VENV_BIN": str(VENV_BIN),
    # apps/ holds voila.json (read by Voilà's server extension); singleuser/ the server settings.
    "JUPYTER_CONFIG_PATH": os.pathsep.join([str(HERE / "singleuser"), str(REPO / "apps")]),
    "JUPYTER_PATH": str(REPO / "apps" / "jupyter"),  # the offline Voilà template
    "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
    "TTFS_LAB_RUN_DIR": os.environ.get("TTFS_LAB_RUN_DIR", "/tmp/ttfs-lab-run"),  # fair thread shares
}

# ------------------------------------------------------------------ idle culling
c.JupyterHub.services = [{
    "name": "idle-culler",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler",
                f"--timeout={int(os.environ.get('TTFS_HUB_CULL_TIMEOUT', '3600'))}", "--cull-every=300"],
}]
c.JupyterHub.load_roles = [{
    "name": "idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["idle-culler"],
}]

# Settings the classroom benchmark and tests pass in (a JSON object of trait paths -> values).
for key, value in json.loads(os.environ.get("TTFS_HUB_EXTRA_CONFIG", "{}")).items():
    section, name = key.rsplit(".", 1)
    setattr(getattr(c, section), name, value)
