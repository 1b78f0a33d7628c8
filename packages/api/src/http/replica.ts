import { hostname } from "node:os";

/**
 * This process among the replicas of a deployment: its host name (a pod's name on Kubernetes) and
 * process id. What a process knows only in memory, such as its reaper's poisoned-instance marks,
 * is reported under it, so answers from different replicas are told apart.
 */
export const REPLICA_ID = `${hostname()}:${process.pid}`;
