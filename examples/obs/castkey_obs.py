"""Castkey for OBS Studio: the stream key (or WHIP bearer token) comes from Castkey.

Add this file in OBS: Tools -> Scripts -> "+". In Settings -> Stream, choose a
"Custom..." service (RTMP) or "WHIP". The script asks Castkey for a broadcaster
token and puts it in the service's settings:

* Custom RTMP service (`rtmp_custom`): the token becomes the stream key (`key`);
* WHIP service (`whip_custom`): the token becomes the bearer token (`bearer_token`).

It asks again before the token expires (Castkey answers from its cache and
refreshes when needed), when Castkey says the active account changed, and when
you press "Fetch the token now". Errors (Castkey not running, not signed in,
this program not allowed...) go to the script log (Tools -> Scripts -> Script
Log). OBS reads the stream key when a stream starts: a token that changes
during a stream is used from the next start or reconnect.

The client code is not duplicated here: the script loads `castkey_token.py`
(examples/python/castkey_token.py, Python standard library only) from its own
directory, or from `../python/` as laid out in the Castkey repository. Copy
both files together when you install the script elsewhere.

Talking to Castkey happens on a background thread, so OBS never waits for it
(the first request may wait for you to answer Castkey's consent question);
the token is applied to the service from an OBS timer on OBS's side.
"""

import importlib.util
import os
import queue
import threading
import time

import obspython as obs

SCRIPT_VERSION = "1"
CLIENT_FILE = "castkey_token.py"
# Notifications after which the token is asked for again at once.
RENEW_ON = ("active_changed", "signed_in", "signed_out", "reauth_required", "token_refreshed")
APPLY_EVERY_MS = 1000

_castkey = None  # the loaded castkey_token module
_load_error = None
_worker = None
_config = {}
_last_applied = None  # (service type, setting, token) last written
_last_logged_error = None


def _log(level, message):
    obs.script_log(level, "[castkey] " + message)


# -- the shared client ---------------------------------------------------------


def _client_candidates():
    here = os.path.dirname(os.path.abspath(__file__))
    return [os.path.join(here, CLIENT_FILE), os.path.join(here, os.pardir, "python", CLIENT_FILE)]


def _load_client():
    """Loads castkey_token.py (the standard-library client) from next to this script."""
    global _castkey, _load_error
    if _castkey is not None:
        return _castkey
    for path in _client_candidates():
        if os.path.isfile(path):
            spec = importlib.util.spec_from_file_location("castkey_token", os.path.realpath(path))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _castkey = module
            _load_error = None
            return module
    _load_error = "%s was not found next to this script (looked in: %s): copy it from Castkey's examples/python/" % (
        CLIENT_FILE,
        ", ".join(os.path.normpath(p) for p in _client_candidates()),
    )
    return None


# -- the worker thread: all talking to Castkey happens here ---------------------


class TokenWorker(threading.Thread):
    """Keeps one connection to Castkey, subscribed to its notifications, and
    posts ("token", grant) or ("error", CastkeyError) to `results`."""

    def __init__(self, castkey, config):
        super().__init__(name="castkey-token", daemon=True)
        self.castkey = castkey
        self.config = dict(config)
        self.results = queue.Queue()
        self.stopping = threading.Event()
        self.fetch_now = threading.Event()

    def stop(self):
        self.stopping.set()

    def run(self):
        retry_in = 5.0
        while not self.stopping.is_set():
            try:
                self._serve_one_connection()
                retry_in = 5.0
            except self.castkey.RpcError as e:
                self.results.put(("error", e))
                # The user must act (sign in, allow the program...): ask again later.
                retry_in = float(e.data.get("retry_after_secs") or 30)
            except self.castkey.CastkeyError as e:
                self.results.put(("error", e))
                retry_in = min(retry_in * 2, 60.0)
            except Exception as e:  # a bug here must not end the thread silently
                self.results.put(("error", self.castkey.CastkeyError("unexpected: %r" % (e,))))
                retry_in = 60.0
            deadline = time.monotonic() + retry_in
            while not self.stopping.is_set() and time.monotonic() < deadline:
                if self.fetch_now.wait(0.5):
                    break

    def _serve_one_connection(self):
        c = self.config
        margin = max(30, int(c.get("refresh_margin", 300)))
        with self.castkey.CastkeyClient(name="OBS Studio (castkey_obs.py)", version=SCRIPT_VERSION) as client:
            try:
                client.subscribe()
                subscribed = True
            except self.castkey.RpcError:
                subscribed = False  # an older broker: asking before expiry is enough
            due = 0.0
            while not self.stopping.is_set():
                if self.fetch_now.is_set() or time.time() >= due:
                    self.fetch_now.clear()
                    grant = client.token(
                        scope=c.get("scope") or None,
                        provider=c.get("provider") or None,
                        account=c.get("account") or None,
                        # Castkey refreshes first if the token would expire sooner.
                        min_valid_secs=margin + 60,
                    )
                    self.results.put(("token", grant))
                    due = max(float(grant.get("expires_at", 0)) - margin, time.time() + 30)
                wait = max(0.0, min(1.0, due - time.time()))
                if subscribed:
                    note = client.next_notification(timeout=wait)
                    if note is not None and note[0] in RENEW_ON:
                        due = 0.0
                else:
                    self.fetch_now.wait(wait)


# -- OBS's side: applied from a timer ---------------------------------------------


def _setting_for(service_type):
    target = _config.get("target", "auto")
    if target != "auto":
        return target
    return {"rtmp_custom": "key", "whip_custom": "bearer_token"}.get(service_type)


def _apply(grant):
    """Puts the token into the current streaming service's settings."""
    global _last_applied
    service = obs.obs_frontend_get_streaming_service()  # borrowed: not released
    if service is None:
        _log(obs.LOG_WARNING, "OBS has no streaming service yet: nothing to put the token in")
        return
    service_type = obs.obs_service_get_type(service)
    setting = _setting_for(service_type)
    if setting is None:
        _log(
            obs.LOG_ERROR,
            "the streaming service is `%s`: choose a Custom (RTMP) or WHIP service in Settings -> Stream, "
            "or set where the token goes in this script's settings" % service_type,
        )
        return
    token = grant["access_token"]
    if _last_applied == (service_type, setting, token):
        return
    settings = obs.obs_service_get_settings(service)
    try:
        obs.obs_data_set_string(settings, setting, token)
        obs.obs_service_update(service, settings)
    finally:
        obs.obs_data_release(settings)
    _last_applied = (service_type, setting, token)
    account = grant.get("account", {}).get("id", "?")
    expires = time.strftime("%H:%M:%S", time.localtime(grant.get("expires_at", 0)))
    _log(obs.LOG_INFO, "%s of the %s service set from Castkey (account %s, valid until %s)" % (setting, service_type, account, expires))


def _describe(error):
    reason = getattr(error, "reason", None)
    refused = _castkey is not None and isinstance(error, _castkey.RpcError)
    text = "Castkey%s: %s%s" % (" refused" if refused else "", error.message, " [%s]" % reason if refused else "")
    more = _castkey.hint(error) if _castkey is not None else None
    if reason == "client_not_allowed":
        more = (
            "Allow OBS in the Castkey window, or on a headless broker: castkey apps allow <the OBS executable> "
            "(the message above names it)."
        )
    return text + ("\n" + more if more else "")


def _on_timer():
    """Every second, on OBS's side: applies what the worker fetched, logs its errors once."""
    global _last_logged_error
    worker = _worker
    if worker is None:
        return
    while True:
        try:
            kind, value = worker.results.get_nowait()
        except queue.Empty:
            return
        if kind == "token":
            _last_logged_error = None
            _apply(value)
        else:
            text = _describe(value)
            if text != _last_logged_error:
                _log(obs.LOG_ERROR, text)
                _last_logged_error = text


def _restart():
    global _worker
    _stop()
    if not _config.get("enabled", True):
        _log(obs.LOG_INFO, "disabled in the script's settings")
        return
    castkey = _load_client()
    if castkey is None:
        _log(obs.LOG_ERROR, _load_error)
        return
    _worker = TokenWorker(castkey, _config)
    _worker.start()
    obs.timer_add(_on_timer, APPLY_EVERY_MS)


def _stop():
    global _worker
    obs.timer_remove(_on_timer)
    if _worker is not None:
        # Not joined: it may be waiting for Castkey (a consent question), and
        # OBS must not wait with it. It sees the flag within a second.
        _worker.stop()
        _worker = None


def _fetch_now(props, prop):
    if _worker is None:
        _restart()
    else:
        _worker.fetch_now.set()
    return False


# -- the script's exports (see OBS's scripting docs) ---------------------------------


def script_description():
    return (
        "<b>Castkey</b>: the stream key comes from Castkey, the desktop sign-in broker.<br>"
        "Choose a <i>Custom</i> (RTMP) or <i>WHIP</i> service in Settings &rarr; Stream; the token becomes its "
        "stream key or bearer token, and is renewed before it expires.<br>"
        "Needs castkey_token.py next to this script."
    )


def script_defaults(settings):
    obs.obs_data_set_default_bool(settings, "enabled", True)
    obs.obs_data_set_default_string(settings, "scope", "broadcaster")
    obs.obs_data_set_default_string(settings, "target", "auto")
    obs.obs_data_set_default_int(settings, "refresh_margin", 300)


def script_properties():
    props = obs.obs_properties_create()
    obs.obs_properties_add_bool(props, "enabled", "Take the stream key from Castkey")
    obs.obs_properties_add_text(props, "provider", "Provider (empty: the active account's)", obs.OBS_TEXT_DEFAULT)
    obs.obs_properties_add_text(props, "account", "Account (empty: the active one)", obs.OBS_TEXT_DEFAULT)
    obs.obs_properties_add_text(props, "scope", "Scope", obs.OBS_TEXT_DEFAULT)
    target = obs.obs_properties_add_list(
        props, "target", "Put the token in", obs.OBS_COMBO_TYPE_LIST, obs.OBS_COMBO_FORMAT_STRING
    )
    obs.obs_property_list_add_string(target, "Automatic (RTMP: stream key, WHIP: bearer token)", "auto")
    obs.obs_property_list_add_string(target, "Stream key", "key")
    obs.obs_property_list_add_string(target, "Bearer token", "bearer_token")
    obs.obs_properties_add_int(props, "refresh_margin", "Renew this many seconds before expiry", 30, 3600, 30)
    obs.obs_properties_add_button(props, "fetch_now", "Fetch the token now", _fetch_now)
    return props


def script_update(settings):
    global _config
    config = {
        "enabled": obs.obs_data_get_bool(settings, "enabled"),
        "provider": obs.obs_data_get_string(settings, "provider").strip(),
        "account": obs.obs_data_get_string(settings, "account").strip(),
        "scope": obs.obs_data_get_string(settings, "scope").strip(),
        "target": obs.obs_data_get_string(settings, "target") or "auto",
        "refresh_margin": obs.obs_data_get_int(settings, "refresh_margin"),
    }
    if config != _config or _worker is None:
        _config = config
        _restart()


def script_load(settings):
    # script_update follows with the settings; nothing to start twice here.
    if _load_client() is None:
        _log(obs.LOG_ERROR, _load_error)


def script_unload():
    _stop()
