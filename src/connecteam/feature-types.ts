/** The feature types Connecteam's Attachments API accepts, spelled as it expects them. */
export const FEATURE_TYPES = ['chat', 'shiftscheduler', 'users', 'quicktasks'] as const;

export type FeatureType = (typeof FEATURE_TYPES)[number];

/** Returns the feature type spelled exactly as Connecteam expects, or undefined. */
export function parseFeatureType(raw: string): FeatureType | undefined {
  return (FEATURE_TYPES as readonly string[]).includes(raw) ? (raw as FeatureType) : undefined;
}
