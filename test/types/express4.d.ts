// The Express 4 package is installed under the alias "express4" to test both majors; its API is typed like Express's.
declare module 'express4' {
  import express from 'express';
  export default express;
}
