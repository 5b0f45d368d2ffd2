// What a log line may show of a login someone typed: its first 3 characters and a short hash, enough
// to group attempts and match a known login, too little to read a password typed into the wrong field.
import { createHash } from 'node:crypto';

export const loginForLog = (login: string): string => `${[...login].slice(0, 3).join("")}…#${createHash('sha256').update(login).digest('hex').slice(0, 8)}`;
