#!/usr/bin/env python3
"""Asks the top-level X window named argv[1] to close, the way a window
manager's close button does: a WM_DELETE_WINDOW client message (ICCCM
4.1.2.7). Uses libX11 through ctypes (nothing to install). Exit 0 when the
message was sent, 1 when no such window exists."""
import ctypes
import ctypes.util
import sys

x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
Window = ctypes.c_ulong
Atom = ctypes.c_ulong


class ClientMessageData(ctypes.Union):
    _fields_ = [("b", ctypes.c_char * 20), ("s", ctypes.c_short * 10), ("l", ctypes.c_long * 5)]


class XClientMessageEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", Window),
        ("message_type", Atom),
        ("format", ctypes.c_int),
        ("data", ClientMessageData),
    ]


class XEvent(ctypes.Union):
    _fields_ = [("xclient", XClientMessageEvent), ("pad", ctypes.c_long * 24)]


x11.XOpenDisplay.restype = ctypes.c_void_p
x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
x11.XDefaultRootWindow.restype = Window
x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
x11.XInternAtom.restype = Atom
x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
x11.XQueryTree.argtypes = [
    ctypes.c_void_p, Window, ctypes.POINTER(Window), ctypes.POINTER(Window),
    ctypes.POINTER(ctypes.POINTER(Window)), ctypes.POINTER(ctypes.c_uint),
]
x11.XFetchName.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(ctypes.c_char_p)]
x11.XSendEvent.argtypes = [ctypes.c_void_p, Window, ctypes.c_int, ctypes.c_long, ctypes.POINTER(XEvent)]
x11.XFlush.argtypes = [ctypes.c_void_p]


def children(dpy, w):
    root, parent = Window(), Window()
    kids = ctypes.POINTER(Window)()
    n = ctypes.c_uint()
    if not x11.XQueryTree(dpy, w, ctypes.byref(root), ctypes.byref(parent), ctypes.byref(kids), ctypes.byref(n)):
        return []
    return [kids[i] for i in range(n.value)]


def find(dpy, w, title):
    name = ctypes.c_char_p()
    if x11.XFetchName(dpy, w, ctypes.byref(name)) and name.value and name.value.decode(errors="replace") == title:
        return w
    for kid in children(dpy, w):
        found = find(dpy, kid, title)
        if found:
            return found
    return None


def main():
    title = sys.argv[1]
    dpy = x11.XOpenDisplay(None)
    if not dpy:
        sys.exit("cannot open the display")
    target = find(dpy, x11.XDefaultRootWindow(dpy), title)
    if not target:
        print(f"no window named {title!r}", file=sys.stderr)
        sys.exit(1)
    ev = XEvent()
    ev.xclient.type = 33  # ClientMessage
    ev.xclient.window = target
    ev.xclient.message_type = x11.XInternAtom(dpy, b"WM_PROTOCOLS", False)
    ev.xclient.format = 32
    ev.xclient.data.l[0] = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", False)
    ev.xclient.data.l[1] = 0  # CurrentTime
    x11.XSendEvent(dpy, target, False, 0, ctypes.byref(ev))
    x11.XFlush(dpy)


main()
