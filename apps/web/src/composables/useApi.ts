import { inject, type InjectionKey, type Ref } from 'vue';

import type { Api, ApiError } from '../api/client';

export const ApiKey: InjectionKey<Api> = Symbol('api');

/** Whether the api answered the latest request: `undefined` = not asked yet, `null` = yes, else why not. */
export const ReachabilityKey: InjectionKey<Ref<ApiError | null | undefined>> = Symbol('reachability');

export function useApi(): Api {
  const api = inject(ApiKey);
  if (!api) throw new Error('useApi: no api provided (app.provide(ApiKey, createApi(…)))');
  return api;
}

/** An error for the views: ApiError as is, anything else wrapped in a message. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
