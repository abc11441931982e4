// One SQL statement written once for both engines. Parameters are named (`@name`, bound
// from an object) or positional (`?`, bound from an array). better-sqlite3 takes both
// forms as written; for PostgreSQL they are rewritten once to `$1, $2, …` and the object's
// values are laid out in that order. Where the engines truly differ (R*Tree against GiST,
// `FOR UPDATE SKIP LOCKED`, upsert spelling) a statement names both texts.

export type Engine = 'sqlite' | 'postgres';
export type SqlValue = string | number | bigint | Buffer | null;
export type SqlParams = Readonly<Record<string, SqlValue>> | readonly SqlValue[];

export interface CompiledSql {
  readonly text: string;
  /** Named parameters in `$n` order (PostgreSQL); empty for positional statements. */
  readonly names: readonly string[];
  /** A stable name for server-side prepared statements. */
  readonly key: string;
}

let counter = 0;

export class Sql {
  private readonly compiled = new Map<Engine, CompiledSql>();
  private readonly id = ++counter;

  constructor(private readonly texts: Readonly<Record<Engine, string>>) {}

  compile(engine: Engine): CompiledSql {
    let c = this.compiled.get(engine);
    if (c === undefined) {
      c = engine === 'sqlite' ? { text: this.texts.sqlite, names: [], key: `q${String(this.id)}` } : toPostgres(this.texts.postgres, `q${String(this.id)}`);
      this.compiled.set(engine, c);
    }
    return c;
  }
}

/** A statement with the same text on both engines. */
export function sql(text: string): Sql {
  return new Sql({ sqlite: text, postgres: text });
}

/** A statement whose text differs per engine. */
export function sqlPer(texts: Readonly<Record<Engine, string>>): Sql {
  return new Sql(texts);
}

// Rewrites @name and ? outside quotes; a name used twice gets one $n.
function toPostgres(text: string, key: string): CompiledSql {
  const names: string[] = [];
  let out = '';
  let positional = 0;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quote !== undefined) {
      out += ch;
      if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
      continue;
    }
    if (ch === '?') {
      out += `$${String(++positional)}`;
      continue;
    }
    if (ch === '@' && /[A-Za-z_]/.test(text[i + 1] ?? '')) {
      let j = i + 1;
      while (j < text.length && /[A-Za-z0-9_]/.test(text[j] as string)) j++;
      const name = text.slice(i + 1, j);
      let idx = names.indexOf(name);
      if (idx < 0) idx = names.push(name) - 1;
      out += `$${String(idx + 1)}`;
      i = j - 1;
      continue;
    }
    out += ch;
  }
  if (positional > 0 && names.length > 0) throw new Error(`statement mixes ? and @name parameters: ${text}`);
  return { text: out, names, key };
}

/** The values of `params` in the statement's `$n` order. */
export function pgValues(c: CompiledSql, params: SqlParams | undefined): SqlValue[] {
  if (params === undefined) return [];
  if (Array.isArray(params)) return params as SqlValue[];
  const named = params as Readonly<Record<string, SqlValue>>;
  return c.names.map((n) => {
    const v = named[n];
    if (v === undefined) throw new Error(`missing SQL parameter @${n}`);
    return v;
  });
}
