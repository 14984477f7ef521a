/**
 * A minimal protobuf encoder for the subset of onnx.proto that genrec emits (ModelProto and below).
 * Hand-written rather than generated: it is small, has no dependency, and writes large weights as
 * `raw_data` chunks without an intermediate copy per element.
 */

/** ONNX TensorProto.DataType values. */
export const OnnxDataType = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float64: 11, uint32: 12 } as const;

class Writer {
  private chunks: Uint8Array[] = [];
  private buf = new Uint8Array(256);
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.flush();
    if (n > this.buf.length) this.buf = new Uint8Array(Math.max(n, 256));
  }
  private flush(): void {
    if (this.pos > 0) this.chunks.push(this.buf.slice(0, this.pos));
    this.pos = 0;
  }
  varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    this.ensure(10);
    if (x < 0x80n) { this.buf[this.pos++] = Number(x); return; }
    while (x >= 0x80n) { this.buf[this.pos++] = Number(x & 0x7fn) | 0x80; x >>= 7n; }
    this.buf[this.pos++] = Number(x);
  }
  tag(field: number, wire: number): void { this.varint((field << 3) | wire); }
  bytes(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.varint(data.length);
    if (data.length > 4096) { this.flush(); this.chunks.push(data); return; }
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }
  string(field: number, s: string): void { this.bytes(field, new TextEncoder().encode(s)); }
  int(field: number, v: number | bigint): void { this.tag(field, 0); this.varint(v); }
  float(field: number, v: number): void {
    this.tag(field, 5);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).setFloat32(0, v, true);
    this.pos += 4;
  }
  message(field: number, write: (w: Writer) => void): void {
    const sub = new Writer();
    write(sub);
    this.bytes(field, sub.finish());
  }
  finish(): Uint8Array {
    this.flush();
    if (this.chunks.length === 1) return this.chunks[0]!;
    const total = this.chunks.reduce((s, c) => s + c.length, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const c of this.chunks) { out.set(c, o); o += c.length; }
    return out;
  }
}

export type Dim = number | string;
export type AttrValue = number | string | number[] | { floats: number[] } | { tensor: TensorInit } | { float: number };

export interface TensorInit {
  name: string;
  dataType: number;
  dims: readonly number[];
  /** Little-endian bytes of the tensor's data. */
  raw: Uint8Array;
}
export interface ValueInfo { name: string; dataType: number; shape: readonly Dim[] }
export interface NodeInit {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  domain?: string;
  attrs?: Record<string, AttrValue>;
}
export interface ModelInit {
  nodes: readonly NodeInit[];
  inputs: readonly ValueInfo[];
  outputs: readonly ValueInfo[];
  initializers: readonly TensorInit[];
  opsets: Record<string, number>;
  irVersion: number;
  graphName?: string;
  docString?: string;
}

function writeTensor(w: Writer, t: TensorInit): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  w.string(8, t.name);
  w.bytes(9, t.raw);
}

function writeAttr(w: Writer, name: string, v: AttrValue): void {
  w.string(1, name);
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: use {float: x} for non-integers`);
    w.int(3, v); w.int(20, 2);
  } else if (typeof v === 'string') {
    w.bytes(4, new TextEncoder().encode(v)); w.int(20, 3);
  } else if (Array.isArray(v)) {
    for (const x of v) w.int(8, x);
    w.int(20, 7);
  } else if ('float' in v) {
    w.float(2, v.float); w.int(20, 1);
  } else if ('floats' in v) {
    for (const x of v.floats) w.float(7, x);
    w.int(20, 6);
  } else {
    w.message(5, (s) => writeTensor(s, v.tensor)); w.int(20, 4);
  }
}

function writeValueInfo(w: Writer, v: ValueInfo): void {
  w.string(1, v.name);
  w.message(2, (tp) => tp.message(1, (tt) => {
    tt.int(1, v.dataType);
    tt.message(2, (sh) => {
      for (const d of v.shape) sh.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
    });
  }));
}

export function encodeModel(m: ModelInit): Uint8Array {
  const w = new Writer();
  w.int(1, m.irVersion);
  w.string(2, 'genrec');
  w.message(7, (g) => {
    for (const n of m.nodes) {
      g.message(1, (nw) => {
        for (const i of n.inputs) nw.string(1, i);
        for (const o of n.outputs) nw.string(2, o);
        if (n.name) nw.string(3, n.name);
        nw.string(4, n.opType);
        for (const [k, v] of Object.entries(n.attrs ?? {})) nw.message(5, (aw) => writeAttr(aw, k, v));
        if (n.domain) nw.string(7, n.domain);
      });
    }
    g.string(2, m.graphName ?? 'genrec');
    for (const t of m.initializers) g.message(5, (tw) => writeTensor(tw, t));
    if (m.docString) g.string(10, m.docString);
    for (const v of m.inputs) g.message(11, (vw) => writeValueInfo(vw, v));
    for (const v of m.outputs) g.message(12, (vw) => writeValueInfo(vw, v));
  });
  for (const [domain, version] of Object.entries(m.opsets)) {
    w.message(8, (o) => { if (domain) o.string(1, domain); o.int(2, version); });
  }
  return w.finish();
}
