/** Tables of third-party triggers (see src/api/triggers); composed into Database in schema.ts. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface TriggerTables {}
