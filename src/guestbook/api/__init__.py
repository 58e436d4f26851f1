"""The JSON API under /api/v1: the same services and reads the pages call, answered
as JSON (`messages`, `members`); personal access tokens read from the
`Authorization: Bearer` header alone (`auth`); errors as RFC 9457 problem documents
(`problems`); ETags, preconditions and CORS (`http`); the types every request and
answer is checked against and described by (`schemas`), served as an OpenAPI 3.1
document with its docs page (`docs`). Their URLs are in `routes`, which loads the rest
on the API's first request: pages never import pydantic or quart-schema.

May import `accounts`, `messages`, `moderation` and the layers below the features
(not `limits`: the services it calls take their limits);
never `live`.
"""
