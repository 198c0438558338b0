/** One component of the local platform as `stack status`, `npm start` and `sentinel doctor` report it. */
export interface ComponentStatus {
  readonly name: string;
  readonly address: string;
  readonly healthy: boolean;
  /** Started by this stack (and so stopped by `down`), or provided by the machine. */
  readonly managed: boolean;
  readonly detail: string;
}
