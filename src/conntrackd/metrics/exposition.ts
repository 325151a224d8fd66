// Prometheus text exposition format 0.0.4: one HELP and one TYPE line per
// metric family, then its samples. Families are written whole, in the order
// they are declared; a family without samples is left out.

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type MetricType = "counter" | "gauge";
export type Labels = Record<string, string>;

/** A label value with `\`, `"` and newlines escaped. */
function labelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : "\\" + c));
}

/** A HELP text with `\` and newlines escaped. */
function helpText(v: string): string {
  return v.replace(/[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\\\"));
}

/** A sample value: integers as digits (bigints too), others in JavaScript's shortest form. */
export function sampleValue(v: number | bigint): string {
  if (typeof v === "bigint") return v.toString();
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

export class Exposition {
  private out = "";

  /** Writes one family: HELP, TYPE and each [labels, value] sample. */
  family(
    name: string,
    type: MetricType,
    help: string,
    samples: Array<[Labels, number | bigint]>,
  ): void {
    if (samples.length === 0) return;
    this.out += `# HELP ${name} ${helpText(help)}\n# TYPE ${name} ${type}\n`;
    for (const [labels, value] of samples) {
      const keys = Object.keys(labels);
      const l = keys.length ? "{" + keys.map((k) => `${k}="${labelValue(labels[k])}"`).join(",") + "}" : "";
      this.out += `${name}${l} ${sampleValue(value)}\n`;
    }
  }

  /** A family with one unlabelled sample. */
  single(name: string, type: MetricType, help: string, value: number | bigint): void {
    this.family(name, type, help, [[{}, value]]);
  }

  toString(): string {
    return this.out;
  }
}
