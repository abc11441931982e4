/** `{ [key]: value }` when value is defined, else `{}`: spreads an optional field under exactOptionalPropertyTypes. */
export function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: V });
}
