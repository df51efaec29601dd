# Makes the hostile workbooks the import tests refuse: python3 make-hostile.py ROWS
# writes far-corners.xlsx and bomb.xlsx (ROWS rows of the bomb) here.
import zipfile, sys
CT = '''<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'''
RELS = '''<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'''
WB = '''<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'''
WBRELS = '''<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'''
HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
TAIL = '</sheetData></worksheet>'
def book(path, sheet_chunks):
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr('[Content_Types].xml', CT)
        z.writestr('_rels/.rels', RELS)
        z.writestr('xl/workbook.xml', WB)
        z.writestr('xl/_rels/workbook.xml.rels', WBRELS)
        with z.open('xl/worksheets/sheet1.xml', 'w', force_zip64=True) as f:
            f.write(HEAD.encode())
            for c in sheet_chunks: f.write(c)
            f.write(TAIL.encode())
# far corners: two cells, a dense range of 1M x 16k
book('corners.xlsx', [b'<row r="1"><c r="A1" t="inlineStr"><is><t>from</t></is></c></row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'])
# a bomb: rows of 1,000 one-letter cells; 8,000 rows (bomb.xlsx) unpack to 300 MiB,
# 101 rows (many-cells.xlsx) are 101,000 cells
cell = b'<c t="inlineStr"><is><t>x</t></is></c>' * 1000
row = b'<row>' + cell + b'</row>'
n = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
book('bomb.xlsx', (row for _ in range(n)))
