/**
 * Turns request-validation errors into one `error_description` that names the bad field, e.g.
 * "client_id must be at most 128 characters" or "grant_type is required".
 */
import type { ErrorObject } from 'ajv';

function fieldOf(error: ErrorObject): string {
  // instancePath looks like /requestBody/client_id or /query/user_code
  const segments = error.instancePath.split('/').filter(Boolean).slice(1);
  return segments.join('.');
}

function describe(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  const field = fieldOf(error);
  switch (error.keyword) {
    case 'required': {
      const missing = String(params.missingProperty);
      return missing === 'requestBody' ? 'the request needs a form body' : `${field ? `${field}.` : ''}${missing} is required`;
    }
    case 'maxLength':
      return `${field} must be at most ${params.limit} characters`;
    case 'minLength':
      return `${field} must be at least ${params.limit} characters`;
    case 'enum':
      return `${field} must be one of: ${(params.allowedValues as unknown[]).join(', ')}`;
    case 'type':
      return `${field} must be a single ${params.type} value`;
    case 'pattern':
    case 'format':
      return `${field} is malformed`;
    default:
      return `${field || 'the request'} is invalid`;
  }
}

export function describeValidationErrors(errors: ErrorObject[]): string {
  return errors.length === 0 ? 'the request is invalid' : describe(errors[0]!);
}
