// The OAuth scopes some method requires: a client given any other scope holds a typo.
export const KNOWN_SCOPES = ['admin'] as const;
