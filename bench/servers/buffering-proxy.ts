import express from 'express';
import multer from 'multer';

/**
 * A baseline written the way upload integrations often are by hand: multer reads the whole
 * file into memory, then fetch sends the buffer to the pre-signed URL.
 */
const apiUrl = process.env.CONNECTEAM_BASE_URL ?? '';
const apiKey = process.env.CONNECTEAM_API_KEY ?? '';
const upload = multer({ storage: multer.memoryStorage() });

async function callApi(method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(apiUrl + path, {
    method,
    headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok)
    throw new Error(`${path} responded ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { data: unknown }).data;
}

const app = express();
app.post('/upload', upload.single('file'), async (req, res) => {
  const file = req.file!;
  const { fileId, uploadFileUrl } = await callApi(
    'POST',
    '/attachments/v1/files/generate-upload-url',
    {
      fileName: file.originalname,
      featureType: req.body.featureType,
      fileTypeHint: file.mimetype,
    },
  );
  const put = await fetch(uploadFileUrl, {
    method: 'PUT',
    headers: { 'content-type': file.mimetype },
    body: file.buffer,
  });
  if (!put.ok) throw new Error(`storage responded ${put.status}: ${await put.text()}`);
  await callApi('PUT', `/attachments/v1/files/complete-upload/${fileId}`);
  res.status(201).json({ fileId });
});
app.listen(Number(process.env.PORT), '127.0.0.1');

process.once('SIGTERM', () => process.exit(0));
