"""A stand-in for OBS Studio's `obspython` module, for testing castkey_obs.py
without OBS.

Not OBS: a small recording of the part of its scripting API the Castkey script
uses, written from OBS's documentation (docs.obsproject.com: "Python/Lua
Scripting", "Frontend API", "Service API", "Data Settings API", "Properties
API"). It keeps what a real OBS would hold (the streaming service and its
settings, the script's timers, the script log) so that a test can drive the
script and look at the result; it also counts obs_data references, so that a
script that forgets obs_data_release() is caught.

Semantics copied from the documentation:

* obs_frontend_get_streaming_service() answers the current service without a
  new reference (the script must not release it);
* obs_service_get_settings() answers the service's settings with a new
  reference (release with obs_data_release());
* obs_service_update(service, settings) applies the settings to the service;
* timer_add(callback, ms) calls the callback every `ms`; here only when the
  test runs the timers (run_timers), from the test's thread, as OBS calls them
  from its own.
"""

import json
import sys

LOG_ERROR = 100
LOG_WARNING = 200
LOG_INFO = 300
LOG_DEBUG = 400

OBS_TEXT_DEFAULT = 0
OBS_TEXT_PASSWORD = 1
OBS_TEXT_MULTILINE = 2
OBS_TEXT_INFO = 3
OBS_COMBO_TYPE_INVALID = 0
OBS_COMBO_TYPE_EDITABLE = 1
OBS_COMBO_TYPE_LIST = 2
OBS_COMBO_FORMAT_INVALID = 0
OBS_COMBO_FORMAT_INT = 1
OBS_COMBO_FORMAT_FLOAT = 2
OBS_COMBO_FORMAT_STRING = 3

_LEVELS = {LOG_ERROR: "error", LOG_WARNING: "warning", LOG_INFO: "info", LOG_DEBUG: "debug"}

# What the test looks at.
calls = []  # (function name, details) in call order
log = []  # (level name, message)
timers = []  # [callback, interval_ms, next_due_ms]
live_data = set()  # ids of obs_data objects with references left
_clock_ms = 0
_service = None


def _record(function, **details):
    calls.append((function, details))


# -- obs_data_t ------------------------------------------------------------------


class _Data:
    """obs_data_t: values and defaults, reference counted."""

    def __init__(self, values=None):
        self.values = dict(values or {})
        self.defaults = {}
        self.refs = 1
        live_data.add(id(self))

    def get(self, name, fallback):
        if name in self.values:
            return self.values[name]
        return self.defaults.get(name, fallback)


def obs_data_create():
    return _Data()


def obs_data_create_from_json(text):
    return _Data(json.loads(text))


def obs_data_addref(data):
    data.refs += 1


def obs_data_release(data):
    if data is None:
        return
    if data.refs <= 0:
        raise AssertionError("obs_data_release of an obs_data_t with no reference left")
    data.refs -= 1
    if data.refs == 0:
        live_data.discard(id(data))


def obs_data_get_json(data):
    merged = dict(data.defaults)
    merged.update(data.values)
    return json.dumps(merged)


def obs_data_apply(target, source):
    target.values.update(source.values)


def obs_data_get_string(data, name):
    return str(data.get(name, ""))


def obs_data_get_int(data, name):
    return int(data.get(name, 0))


def obs_data_get_bool(data, name):
    return bool(data.get(name, False))


def obs_data_set_string(data, name, value):
    _record("obs_data_set_string", name=name, value=value)
    data.values[name] = str(value)


def obs_data_set_int(data, name, value):
    data.values[name] = int(value)


def obs_data_set_bool(data, name, value):
    data.values[name] = bool(value)


def obs_data_set_default_string(data, name, value):
    data.defaults[name] = str(value)


def obs_data_set_default_int(data, name, value):
    data.defaults[name] = int(value)


def obs_data_set_default_bool(data, name, value):
    data.defaults[name] = bool(value)


# -- obs_service_t and the frontend ------------------------------------------------


class _Service:
    def __init__(self, service_type, settings):
        self.type = service_type
        self.settings = _Data(settings)
        self.updates = 0


def _standin_set_service(service_type, settings=None):
    """Test side: the streaming service the user chose in Settings -> Stream."""
    global _service
    _service = _Service(service_type, settings)
    return _service


def obs_frontend_get_streaming_service():
    _record("obs_frontend_get_streaming_service")
    return _service


def obs_frontend_save_streaming_service():
    _record("obs_frontend_save_streaming_service")


def obs_service_get_type(service):
    return service.type


def obs_service_get_id(service):
    return service.type


def obs_service_get_settings(service):
    service.settings.refs += 1
    return service.settings


def obs_service_update(service, settings):
    _record("obs_service_update", type=service.type, settings=dict(settings.values))
    if settings is not service.settings:
        obs_data_apply(service.settings, settings)
    service.updates += 1


# -- properties --------------------------------------------------------------------


class _Properties:
    def __init__(self):
        self.items = []


class _Property:
    def __init__(self, kind, name, description, **extra):
        self.kind = kind
        self.name = name
        self.description = description
        self.extra = extra
        self.choices = []


def obs_properties_create():
    return _Properties()


def obs_properties_destroy(props):
    pass


def _add(props, prop):
    if any(p.name == prop.name for p in props.items):
        raise AssertionError("two properties named %s" % prop.name)
    props.items.append(prop)
    return prop


def obs_properties_add_bool(props, name, description):
    return _add(props, _Property("bool", name, description))


def obs_properties_add_int(props, name, description, minimum, maximum, step):
    return _add(props, _Property("int", name, description, min=minimum, max=maximum, step=step))


def obs_properties_add_text(props, name, description, text_type):
    return _add(props, _Property("text", name, description, text_type=text_type))


def obs_properties_add_list(props, name, description, combo_type, combo_format):
    return _add(props, _Property("list", name, description, combo_type=combo_type, combo_format=combo_format))


def obs_property_list_add_string(prop, name, value):
    prop.choices.append((name, value))


def obs_properties_add_button(props, name, text, callback):
    if not callable(callback):
        raise AssertionError("button %s: the callback is not callable" % name)
    return _add(props, _Property("button", name, text, callback=callback))


def obs_properties_get(props, name):
    return next((p for p in props.items if p.name == name), None)


# -- logging and timers ----------------------------------------------------------------


def script_log(level, message):
    log.append((_LEVELS.get(level, str(level)), message))
    print("[script log %s] %s" % (_LEVELS.get(level, level), message), file=sys.stderr, flush=True)


def script_log_no_endl(level, message):
    script_log(level, message)


def timer_add(callback, milliseconds):
    _record("timer_add", ms=milliseconds)
    timers.append([callback, milliseconds, _clock_ms + milliseconds])


def timer_remove(callback):
    _record("timer_remove")
    timers[:] = [t for t in timers if t[0] != callback]


_current = None


def remove_current_callback():
    if _current is not None:
        timer_remove(_current)


def run_timers(elapsed_ms):
    """Test side: lets `elapsed_ms` of OBS time pass, calling the timers that come due."""
    global _clock_ms, _current
    end = _clock_ms + elapsed_ms
    while True:
        due = [t for t in timers if t[2] <= end]
        if not due:
            break
        timer = min(due, key=lambda t: t[2])
        _clock_ms = timer[2]
        timer[2] += timer[1]
        _current = timer[0]
        try:
            timer[0]()
        finally:
            _current = None
    _clock_ms = end
