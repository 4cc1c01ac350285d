// An FC HTTP handler: GET /fn/demo/hello/?name=you -> {"message":"Hello, you!"}
'use strict';

exports.handler = (request, response, context) => {
  let name = request.queries.name;
  if (Array.isArray(name)) name = name[0];
  if (!name) name = 'world';
  response.setStatusCode(200);
  response.setHeader('Content-Type', 'application/json');
  response.send(JSON.stringify({ message: `Hello, ${name}!` }));
};
