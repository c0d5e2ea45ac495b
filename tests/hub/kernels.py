"""Run code in a kernel of a user's own server on the hub (Jupyter's REST and websocket
protocol, through the proxy), as the user's browser would."""
from __future__ import annotations

import json
import time
import urllib.request
import uuid


def _server_running(hub, user: str) -> None:
    info = hub.api(f"/users/{user}")
    if not info.get("servers", {}).get(""):
        try:
            hub.api(f"/users/{user}/server", "POST", {})
        except Exception:  # noqa: BLE001 - 400 when it is already starting
            pass
    deadline = time.monotonic() + 120
    while not (hub.api(f"/users/{user}").get("servers", {}).get("", {}).get("ready")):
        if time.monotonic() > deadline:
            raise AssertionError(f"{user}'s server did not start")
        time.sleep(1)


def run_code(hub, user: str, code: str, timeout: float = 180) -> str:
    """Start a kernel in ``user``'s server, run ``code``, return what it printed."""
    import websocket
    _server_running(hub, user)
    token = hub.token_for(user)
    base = f"{hub.url}/user/{user}/api/kernels"
    req = urllib.request.Request(base, method="POST", data=b"{}",
                                 headers={"Authorization": f"token {token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        kernel = json.loads(resp.read())
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{hub.port}/user/{user}/api/kernels/{kernel['id']}/channels",
        header=[f"Authorization: token {token}"], timeout=timeout)
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "username": user, "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
    out, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                out.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                break
    finally:
        ws.close()
        delete = urllib.request.Request(f"{base}/{kernel['id']}", method="DELETE",
                                        headers={"Authorization": f"token {token}"})
        urllib.request.urlopen(delete, timeout=60).close()
    return "".join(out)
