/**
 * Client defaults that settings modules name without loading a Kafka client (librdkafka is a
 * native addon of about 15 MB: a command that only reads its settings should not map it).
 */

/** Producers wait this long for more records before a request goes out, unless a caller says otherwise. */
export const defaultLingerMs = 2;
