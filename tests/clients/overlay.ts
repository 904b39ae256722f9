// A stream overlay as streamers run them with Deno: connects to Castkey's
// socket, says hello as "Stream overlay", asks for a token with no
// parameters and prints both answers as one JSON line (like ask_token.py).
// Run as `deno run --allow-read --allow-write --allow-net --allow-env overlay.ts`;
// the scenarios copy it to a path of their own (tests/tests/overlay.rs).

const path = Deno.env.get("CASTKEY_SOCKET") ??
  `${Deno.env.get("XDG_RUNTIME_DIR")}/castkey/castkey.sock`;
const conn = await Deno.connect({ transport: "unix", path });
const lines = conn.readable.pipeThrough(new TextDecoderStream()).getReader();
const encoder = new TextEncoder();
let buffered = "";

async function readLine(): Promise<string> {
  while (!buffered.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) throw new Error("Castkey closed the connection");
    buffered += value;
  }
  const at = buffered.indexOf("\n");
  const line = buffered.slice(0, at);
  buffered = buffered.slice(at + 1);
  return line;
}

async function call(id: number, method: string, params: unknown): Promise<unknown> {
  const line = JSON.stringify({ jsonrpc: "2.0", id, method, params });
  await conn.write(encoder.encode(line + "\n"));
  return JSON.parse(await readLine());
}

const hello = await call(1, "hello", { name: "Stream overlay", version: "1.0" });
const token = await call(2, "token", {});
console.log(JSON.stringify({ hello, token }));
conn.close();
