// The tutorial's hello function as a Cloudflare module worker (bench/run.sh's workerd peer).
export default {
  async fetch(request) {
    const name = new URL(request.url).searchParams.get('name') ?? 'World';
    return new Response(JSON.stringify({ message: `Hello, ${name}!` }), {
      status: 200,
      headers: { 'content-type': 'application/json' },
    });
  },
};
