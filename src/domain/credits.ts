/** Seed 000's formula: (input + 3 × output) / 100 credits, rounded up, at least 1. */
export function creditsForUsage(usage: { input_tokens: number; output_tokens: number }): number {
  const raw = (Math.max(0, usage.input_tokens) + 3 * Math.max(0, usage.output_tokens)) / 100;
  return Math.max(1, Math.ceil(raw));
}
