// JSON over fetch. Errors carry the server's message ({"error": {"status", "message"}}).

export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function requestJson(path, { method = "GET", body, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new HttpError(0, `network error: ${error.message}`);
  }
  const text = await response.text();
  const answer = text ? parseJson(text) : null;
  if (!response.ok) {
    const message = answer?.error?.message ?? `${response.status} ${response.statusText}`;
    throw new HttpError(response.status, message);
  }
  return answer;
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export const getJson = (path, options = {}) => requestJson(path, options);
export const postJson = (path, body, options = {}) =>
  requestJson(path, { ...options, method: "POST", body });
